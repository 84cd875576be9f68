//! Roster verification, key validity, clearances, groups, policy and TLP.

use isop_core::*;

use crate::fixture::*;

#[test]
fn roster_signature_and_versions() {
    let fed = fed();
    // Another key cannot sign a roster.
    let rogue = Signer::new(
        ROSTER_KEY_ID.parse().unwrap(),
        SecretKey::generate(&mut rng(9)),
    );
    let forged = builder(&fed.signers).version(2, NOW).sign(&rogue).unwrap();
    assert!(matches!(
        Roster::verify(&forged, &fed.roster_key()),
        Err(Error::BadSignature(_))
    ));
    // A flipped payload byte breaks the signature.
    let mut flipped = fed.roster_env.clone();
    let mut payload = flipped.payload.to_vec();
    payload[10] ^= 1;
    flipped.payload = payload.into();
    assert!(Roster::verify(&flipped, &fed.roster_key()).is_err());
    // Updates need a higher version.
    let same = builder(&fed.signers).sign(&fed.roster_key).unwrap();
    assert!(matches!(
        fed.roster.verify_update(&same, &fed.roster_key()),
        Err(Error::StaleRoster {
            current: 1,
            offered: 1
        })
    ));
    let next = builder(&fed.signers)
        .version(2, NOW)
        .sign(&fed.roster_key)
        .unwrap();
    assert_eq!(
        fed.roster
            .verify_update(&next, &fed.roster_key())
            .unwrap()
            .version(),
        2
    );
    // A wrong payload type is refused before anything is decoded.
    let mut wrong = next.clone();
    wrong.payload_type = NOTICE_PAYLOAD_TYPE.into();
    assert!(matches!(
        Roster::verify(&wrong, &fed.roster_key()),
        Err(Error::WrongPayloadType { .. })
    ));
}

#[test]
fn invalid_rosters_are_refused() {
    let fed = fed();
    let check = |b: RosterBuilder, needle: &str| {
        let err = b.build().unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    };
    check(
        builder(&fed.signers).member(&org(KR), "again", Role::Agency, "KR"),
        "appears twice",
    );
    check(
        builder(&fed.signers).member(&org("XX-NEW"), "x", Role::Agency, "Korea"),
        "country",
    );
    check(
        builder(&fed.signers).group("role:hub", "spoof", &[&org(KR)]),
        "reserved prefix",
    );
    check(
        builder(&fed.signers).group("op:x", "ghost", &[&org("XX-GHOST")]),
        "not a member",
    );
    check(
        builder(&fed.signers)
            .clearance(&org(GB), "country:KR")
            .unwrap(),
        "reserved prefix",
    );
    // A token that is a group's id would pass for membership of it.
    check(
        builder(&fed.signers)
            .clearance(&org(SPORTS), "op:sop-2026")
            .unwrap(),
        "clearance token \"op:sop-2026\" is the id of a group",
    );
    check(
        builder(&fed.signers).group("pii:handler", "named like KR's token", &[&org(GB)]),
        "is the id of a group",
    );
    check(builder(&fed.signers).version(0, NOW), "version");
    let weak = {
        let mut id = [0u8; 32];
        id[0] = 1;
        id
    };
    let mut pb_roster = builder(&fed.signers).build().unwrap();
    pb_roster.members[0].keys[0].public_key = weak.to_vec().into();
    assert!(
        Roster::try_from(pb_roster)
            .unwrap_err()
            .to_string()
            .contains("small order")
    );
}

#[test]
fn key_validity_and_revocation() {
    let fed = fed();
    let r = &fed.roster;
    let kr = org(KR);
    let at = |t: u64| UnixMillis(t);
    // The expired key counts for history before its end, never after.
    assert!(
        r.signing_key(
            fed.kr_old.id(),
            &kr,
            at(NOW.0 - 2 * DAY),
            Judgement::AtCreation
        )
        .is_ok()
    );
    assert!(matches!(
        r.signing_key(fed.kr_old.id(), &kr, NOW, Judgement::AtCreation),
        Err(Error::KeyNotValid { .. })
    ));
    // The revoked key counts for history before revocation...
    assert!(
        r.signing_key(
            fed.kr_revoked.id(),
            &kr,
            at(NOW.0 - 2 * DAY),
            Judgement::AtCreation
        )
        .is_ok()
    );
    assert!(
        r.signing_key(fed.kr_revoked.id(), &kr, NOW, Judgement::AtCreation)
            .is_err()
    );
    // ...but a live delivery refuses it even when backdated.
    let live = Judgement::Live {
        now: NOW,
        max_skew_ms: 3 * DAY,
        max_age_ms: 30 * DAY,
    };
    assert!(
        r.signing_key(fed.kr_revoked.id(), &kr, at(NOW.0 - 2 * DAY), live)
            .is_err()
    );
    // Clock skew: only ahead of the receiver's clock.
    assert!(matches!(
        r.signing_key(
            fed.signer(KR).id(),
            &kr,
            at(NOW.0 + 11 * 60 * 1000),
            Judgement::live(NOW)
        ),
        Err(Error::ClockSkew { .. })
    ));
    // Behind it, up to the maximum age: a notice that waited out an outage.
    assert!(
        r.signing_key(
            fed.signer(KR).id(),
            &kr,
            at(NOW.0 - 11 * 60 * 1000),
            Judgement::live(NOW)
        )
        .is_ok()
    );
    assert!(
        r.signing_key(
            fed.signer(KR).id(),
            &kr,
            at(NOW.0 + 9 * 60 * 1000),
            Judgement::live(NOW)
        )
        .is_ok()
    );
    // A key of another org never counts for this author.
    assert!(matches!(
        r.signing_key(fed.signer(GB).id(), &kr, NOW, Judgement::AtCreation),
        Err(Error::KeyNotAuthors { .. })
    ));
    assert!(matches!(
        r.signing_key(
            &"KR-KNPA/nope".parse().unwrap(),
            &kr,
            NOW,
            Judgement::AtCreation
        ),
        Err(Error::UnknownKey(_))
    ));
}

#[test]
fn member_revocation() {
    let fed = fed();
    let b = builder(&fed.signers)
        .version(2, NOW)
        .revoke_member(&org(GB), UnixMillis(NOW.0 - DAY))
        .unwrap();
    let r = Roster::try_from(b.build().unwrap()).unwrap();
    assert!(matches!(
        r.active_member(&org(GB), NOW),
        Err(Error::OrgRevoked(_))
    ));
    assert!(
        r.active_member(&org(GB), UnixMillis(NOW.0 - 2 * DAY))
            .is_ok()
    );
    assert!(
        r.signing_key(fed.signer(GB).id(), &org(GB), NOW, Judgement::AtCreation)
            .is_err()
    );
    let to = r
        .expand_recipients(&org(HUB), [], ["op:sop-2026"], NOW)
        .unwrap();
    assert_eq!(to.into_iter().collect::<Vec<_>>(), vec![org(KR)]);
}

#[test]
fn clearances_and_groups() {
    let fed = fed();
    let c = fed.roster.clearance(&org(KR)).unwrap();
    let tokens: Vec<&str> = c.tokens().collect();
    assert_eq!(
        tokens,
        [
            "country:KR",
            "op:sop-2026",
            "org:KR-KNPA",
            "pii:handler",
            "region:asia",
            "role:agency"
        ]
    );
    assert!(matches!(
        fed.roster.clearance(&org("XX-NONE")),
        Err(Error::UnknownOrg(_))
    ));

    // Groups expand without the author and without auditors; named orgs are kept.
    let to = fed
        .roster
        .expand_recipients(&org(KR), [&org(FILMCO)], ["op:sop-2026"], NOW)
        .unwrap();
    assert_eq!(
        to.into_iter().collect::<Vec<_>>(),
        vec![org(GB), org(HUB), org(FILMCO)]
    );
    assert!(matches!(
        fed.roster.expand_recipients(&org(KR), [], ["op:none"], NOW),
        Err(Error::UnknownGroup(_))
    ));
    assert!(matches!(
        fed.roster
            .expand_recipients(&org(KR), [&org("XX-NONE")], [], NOW),
        Err(Error::UnknownOrg(_))
    ));
}

#[test]
fn sending_policy() {
    let fed = fed();
    let p = fed.roster.policy();
    let filmco = org(FILMCO);
    let other = org(SPORTS);
    use NoticeKind::*;
    use ReplyContext as R;
    use Role::*;
    #[track_caller]
    fn check(r: Result<(), Error>, ok: bool) {
        assert_eq!(r.is_ok(), ok, "{r:?}");
    }
    check(
        p.check(&filmco, Partner, Agency, Referral, &R::Unknown),
        true,
    );
    check(p.check(&filmco, Partner, Hub, Referral, &R::Unknown), true);
    check(
        p.check(&filmco, Partner, Partner, Referral, &R::Unknown),
        false,
    );
    check(
        p.check(&filmco, Partner, Agency, IntelReport, &R::Unknown),
        false,
    );
    check(
        p.check(&filmco, Partner, Agency, TakedownRequest, &R::Unknown),
        false,
    );
    check(
        p.check(
            &filmco,
            Partner,
            Agency,
            StatusUpdate,
            &R::ReferralBy(filmco.clone()),
        ),
        true,
    );
    check(
        p.check(
            &filmco,
            Partner,
            Agency,
            CaseMessage,
            &R::ReferralBy(filmco.clone()),
        ),
        true,
    );
    check(
        p.check(
            &filmco,
            Partner,
            Agency,
            Retraction,
            &R::ReferralBy(filmco.clone()),
        ),
        true,
    );
    check(
        p.check(
            &filmco,
            Partner,
            Agency,
            StatusUpdate,
            &R::ReferralBy(other.clone()),
        ),
        false,
    );
    check(
        p.check(
            &filmco,
            Partner,
            Agency,
            StatusUpdate,
            &R::Other(filmco.clone()),
        ),
        false,
    );
    // A retraction only by the author of what it retracts, whatever the
    // sender's role.
    check(
        p.check(
            &filmco,
            Partner,
            Agency,
            Retraction,
            &R::ReferralBy(other.clone()),
        ),
        false,
    );
    check(
        p.check(&org(KR), Agency, Agency, Retraction, &R::Other(org(GB))),
        false,
    );
    check(
        p.check(&org(KR), Agency, Agency, Retraction, &R::Other(org(KR))),
        true,
    );
    check(
        p.check(&filmco, Partner, Agency, CaseMessage, &R::Unknown),
        false,
    );
    for kind in NoticeKind::ALL {
        check(p.check(&org(KR), Agency, Agency, kind, &R::Unknown), true);
        check(p.check(&org(KR), Agency, Partner, kind, &R::Unknown), true);
        check(p.check(&org(HUB), Hub, Agency, kind, &R::Unknown), true);
        check(p.check(&org(KR), Agency, Auditor, kind, &R::Unknown), false);
        check(
            p.check(&org(AUDIT), Auditor, Agency, kind, &R::Unknown),
            false,
        );
    }
    let err = p
        .check(&filmco, Partner, Agency, StatusUpdate, &R::Unknown)
        .unwrap_err()
        .to_string();
    assert!(err.contains("own"), "{err}");
}

#[test]
fn tlp_transmission_rules() {
    let fed = fed();
    let r = &fed.roster;
    let seal = |tlp: Tlp, to_groups: &[&str]| {
        let mut d = NoticeDraft::new(tlp, referral_body()).to_org(&org(KR));
        for g in to_groups {
            d = d.to_group(g);
        }
        d.seal(fed.signer(FILMCO), NOW, &mut rng(3)).unwrap()
    };
    let red = seal(Tlp::Red, &[]);
    let n = red.notice();
    assert_eq!(
        check_transmission(n, &org(FILMCO), &org(KR), r, NOW).unwrap(),
        Transmission::Direct
    );
    assert!(matches!(
        check_transmission(n, &org(FILMCO), &org(GB), r, NOW),
        Err(Error::NotAddressed(_))
    ));
    // The hub may relay to an addressed org, whatever the marking.
    assert_eq!(
        check_transmission(n, &org(HUB), &org(KR), r, NOW).unwrap(),
        Transmission::Relay
    );
    // Nobody may forward RED, AMBER+STRICT or AMBER to an org not addressed.
    for tlp in [Tlp::Red, Tlp::AmberStrict, Tlp::Amber] {
        let s = seal(tlp, &[]);
        let e = check_transmission(s.notice(), &org(KR), &org(GB), r, NOW).unwrap_err();
        assert!(
            matches!(e, Error::TlpForbids { tlp: t, .. } if t == tlp),
            "{e}"
        );
        assert!(check_transmission(s.notice(), &org(HUB), &org(GB), r, NOW).is_err());
    }
    // GREEN and CLEAR may be forwarded within the federation.
    for tlp in [Tlp::Green, Tlp::Clear] {
        let s = seal(tlp, &[]);
        assert_eq!(
            check_transmission(s.notice(), &org(KR), &org(GB), r, NOW).unwrap(),
            Transmission::Forward
        );
        assert!(matches!(
            check_transmission(s.notice(), &org(KR), &org("XX-OUT"), r, NOW),
            Err(Error::UnknownOrg(_))
        ));
    }
    // Addressing through a group counts.
    let green_group = seal(Tlp::Green, &["region:asia"]);
    assert!(green_group.notice().addresses(&org(KR), r));
    assert!(!green_group.notice().addresses(&org(GB), r));
    // Group membership only: a notice "to the group" named like a
    // clearance token KR holds does not address KR: the hub passing it
    // there is a forward, which AMBER+STRICT forbids.
    let mut d = NoticeDraft::new(Tlp::AmberStrict, referral_body()).to_org(&org(GB));
    d = d.to_group("pii:handler");
    let by_token = d.seal(fed.signer(FILMCO), NOW, &mut rng(4)).unwrap();
    assert!(!by_token.notice().addresses(&org(KR), r));
    assert!(matches!(
        check_transmission(by_token.notice(), &org(HUB), &org(KR), r, NOW),
        Err(Error::TlpForbids { .. })
    ));
    assert!(Tlp::Clear.may_export() && !Tlp::Green.may_export());
}

#[test]
fn matching_policy() {
    let fed = fed();
    let policy = fed.roster.policy();
    // The standard policy: agencies and the hub match each other; a
    // partner may ask the hub, in small queries, and no one asks a
    // partner.
    let rule = policy.match_rule(Role::Agency, Role::Agency).unwrap();
    assert_eq!(
        (rule.max_query_items, rule.runs_per_day, rule.reveal_sources),
        (100_000, 24, true)
    );
    let partner = policy.match_rule(Role::Partner, Role::Hub).unwrap();
    assert!(partner.max_query_items < rule.max_query_items && !partner.reveal_sources);
    for (asker, answerer) in [
        (Role::Partner, Role::Agency),
        (Role::Partner, Role::Partner),
        (Role::Agency, Role::Partner),
        (Role::Auditor, Role::Hub),
    ] {
        assert!(
            policy.match_rule(asker, answerer).is_none(),
            "{asker:?} {answerer:?}"
        );
    }
    // The rules survive signing and verification, and a change shows in
    // the diff.
    let mut narrower = policy.clone();
    narrower.match_rules.retain(|r| r.asker != Role::Partner);
    let env = builder(&fed.signers)
        .version(2, NOW)
        .policy(&narrower)
        .sign(&fed.roster_key)
        .unwrap();
    let next = fed.roster.verify_update(&env, &fed.roster_key()).unwrap();
    assert_eq!(next.policy().match_rules, narrower.match_rules);
    assert!(
        next.changes_from(&fed.roster)
            .contains(&"the matching policy's rules change".to_string())
    );
    // A rule that allows no query is refused by name.
    let mut none = policy.clone();
    none.match_rules[0].runs_per_day = 0;
    let err = builder(&fed.signers)
        .policy(&none)
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("allows no query"), "{err}");
}
