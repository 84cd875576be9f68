//! Derived ids: an object's id is a function of the notice it comes from
//! and the field it maps (its path), so that exporting again gives the
//! same ids and a consumer updates what it holds instead of doubling it.
//!
//! Both kinds are SHA-1 over [`NAMESPACE`] and a name, as RFC 9562's
//! UUIDv5. Cyber-observables carry version 5, as STIX 2.1 §2.9 asks of
//! them; domain, relationship and meta objects carry version 4 in the
//! version field (the digest's bits are as unpredictable as random ones),
//! because §2.9 says they SHOULD be UUIDv4 and strict validators hold
//! them to it. `docs/STIX.md` says so.

use uuid::Uuid;

/// isop's namespace for derived ids.
pub const NAMESPACE: Uuid = uuid::uuid!("5b0e3d52-8a1f-4c49-9a57-7f7c1d2e6a31");

/// The id of a STIX domain, relationship or meta object of type `ty`
/// named `name`.
pub fn sdo(ty: &str, name: &str) -> String {
    let derived = Uuid::new_v5(&NAMESPACE, format!("{ty}:{name}").as_bytes());
    let v4 = uuid::Builder::from_bytes(derived.into_bytes())
        .with_version(uuid::Version::Random)
        .into_uuid();
    format!("{ty}--{v4}")
}

/// The id of a STIX cyber-observable of type `ty` named `name`.
pub fn sco(ty: &str, name: &str) -> String {
    let v5 = Uuid::new_v5(&NAMESPACE, format!("{ty}:{name}").as_bytes());
    format!("{ty}--{v5}")
}

/// The UUID an id ends in, if it is `type--UUID`.
pub fn uuid_of(id: &str) -> Option<Uuid> {
    let (_, u) = id.split_once("--")?;
    Uuid::parse_str(u).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_carry_their_version() {
        let a = sdo("report", "0190f0c2-0000-7000-8000-000000000001");
        assert_eq!(a, sdo("report", "0190f0c2-0000-7000-8000-000000000001"));
        assert_ne!(a, sdo("note", "0190f0c2-0000-7000-8000-000000000001"));
        let u = uuid_of(&a).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
        let s = sco("domain-name", "n/referral.target.domain");
        assert_eq!(uuid_of(&s).unwrap().get_version_num(), 5);
        assert!(s.starts_with("domain-name--"));
    }
}
