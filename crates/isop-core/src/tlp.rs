//! TLP 2.0 markings and the onward-sharing rules they impose.

use std::fmt;

use isop_proto::v1 as pb;

use crate::{Error, Notice, OrgId, Role, Roster, UnixMillis};

/// A Traffic Light Protocol 2.0 marking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tlp {
    /// No limit; may be exported outside the federation.
    Clear,
    /// May be forwarded within the federation.
    Green,
    /// The recipient org, need-to-know; not forwarded to other orgs.
    Amber,
    /// Only the recipient org; never forwarded.
    AmberStrict,
    /// Only the named recipient orgs; never forwarded.
    Red,
}

/// How a notice reaches a receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transmission {
    /// From its author.
    Direct,
    /// Relayed by the hub to a recipient the author addressed.
    Relay,
    /// Passed on by a holder to an org the author did not address.
    Forward,
}

impl Tlp {
    /// The marking of a wire value; an error if it is not set or unknown.
    pub fn from_pb(v: i32) -> Result<Self, Error> {
        Ok(match pb::Tlp::try_from(v) {
            Ok(pb::Tlp::Clear) => Self::Clear,
            Ok(pb::Tlp::Green) => Self::Green,
            Ok(pb::Tlp::Amber) => Self::Amber,
            Ok(pb::Tlp::AmberStrict) => Self::AmberStrict,
            Ok(pb::Tlp::Red) => Self::Red,
            _ => {
                return Err(Error::InvalidNotice {
                    what: "notice.tlp".into(),
                    why: "is not set".into(),
                });
            }
        })
    }

    /// The wire enum.
    pub fn to_pb(self) -> pb::Tlp {
        match self {
            Self::Clear => pb::Tlp::Clear,
            Self::Green => pb::Tlp::Green,
            Self::Amber => pb::Tlp::Amber,
            Self::AmberStrict => pb::Tlp::AmberStrict,
            Self::Red => pb::Tlp::Red,
        }
    }

    /// Whether a notice with this marking may leave the federation (only CLEAR).
    pub fn may_export(self) -> bool {
        self == Self::Clear
    }

    /// Whether a holder may pass the notice on to an org its author did not address.
    pub fn may_forward(self) -> bool {
        matches!(self, Self::Clear | Self::Green)
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Clear => "TLP:CLEAR",
            Self::Green => "TLP:GREEN",
            Self::Amber => "TLP:AMBER",
            Self::AmberStrict => "TLP:AMBER+STRICT",
            Self::Red => "TLP:RED",
        })
    }
}

/// Decides whether `sender` may transmit `notice` to `receiver` at `now`,
/// and how: the author sends directly to an addressed org; the hub may relay
/// to an addressed org whatever the marking; anyone else holding the notice
/// may forward it to an active member only if its TLP allows forwarding.
pub fn check_transmission(
    notice: &Notice,
    sender: &OrgId,
    receiver: &OrgId,
    roster: &Roster,
    now: UnixMillis,
) -> Result<Transmission, Error> {
    let addressed = notice.addresses(receiver, roster);
    if sender == notice.author() {
        return if addressed {
            Ok(Transmission::Direct)
        } else {
            Err(Error::NotAddressed(receiver.clone()))
        };
    }
    let sender_role = roster.active_member(sender, now)?.role;
    if addressed && sender_role == Role::Hub {
        return Ok(Transmission::Relay);
    }
    if !notice.tlp().may_forward() {
        return Err(Error::TlpForbids {
            tlp: notice.tlp(),
            why: format!(
                "{sender} may not pass on {}'s notice to {receiver}",
                notice.author()
            ),
        });
    }
    roster.active_member(receiver, now)?;
    Ok(Transmission::Forward)
}
