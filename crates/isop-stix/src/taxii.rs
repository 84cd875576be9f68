//! The TAXII 2.1 resources (TAXII 2.1 §4, §5) a node serves, and the
//! media types and headers they travel with.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The media type of every TAXII 2.1 resource.
pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The media type of STIX 2.1 content.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The header giving the `date_added` of the first object of a page.
pub const DATE_ADDED_FIRST: &str = "X-TAXII-Date-Added-First";
/// The header giving the `date_added` of the last object of a page.
pub const DATE_ADDED_LAST: &str = "X-TAXII-Date-Added-Last";

/// The discovery resource (§4.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Discovery {
    /// A name for the server.
    pub title: String,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who to ask about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// The API root to use by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Every API root.
    #[serde(default)]
    pub api_roots: Vec<String>,
}

/// An API root's information (§4.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiRoot {
    /// Its name.
    pub title: String,
    /// What it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The TAXII versions it speaks.
    pub versions: Vec<String>,
    /// The largest request body it takes, in bytes.
    pub max_content_length: u64,
}

/// A collection (§5.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Collection {
    /// Its id, a UUID.
    pub id: String,
    /// Its name.
    pub title: String,
    /// What it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A short name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Whether the requester may read it.
    pub can_read: bool,
    /// Whether the requester may add to it.
    pub can_write: bool,
    /// The media types of its objects.
    #[serde(default)]
    pub media_types: Vec<String>,
}

/// The collections resource (§5.1).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Collections {
    /// Each collection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<Collection>,
}

/// A page of objects (§3.7).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Envelope {
    /// Whether more follow.
    #[serde(default)]
    pub more: bool,
    /// What to ask for the next page with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<Value>,
}

/// One object version in a manifest (§5.7).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManifestRecord {
    /// The object's id.
    pub id: String,
    /// When the server added this version.
    pub date_added: String,
    /// The version: its `modified`, or its `date_added` if it has none.
    pub version: String,
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

/// A page of a collection's manifest (§5.6).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Whether more follow.
    #[serde(default)]
    pub more: bool,
    /// What to ask for the next page with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ManifestRecord>,
}

/// An object's versions (§5.9).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Versions {
    /// Whether more follow.
    #[serde(default)]
    pub more: bool,
    /// What to ask for the next page with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Each version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

/// An error (§3.6.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaxiiError {
    /// What went wrong, short.
    pub title: String,
    /// What went wrong, in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<String>,
}
