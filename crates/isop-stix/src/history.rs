//! A notice's objects over time. Its author may retract it later: a
//! retraction that withdraws the notice revokes every object it became
//! (`revoked: true` in a new version); one that narrows it revokes the
//! objects of the fields withdrawn and versions the report or note that
//! held them. Observables are not versioned in STIX, so they are left as
//! they are; the indicators on them are what is revoked.

use std::collections::BTreeMap;

use isop_api::NoticeView;
use serde_json::json;

use crate::notice::{Context, objects};
use crate::{Error, Object, str_of, timestamp};

/// A retraction of a notice, by its author, as this node holds it.
#[derive(Clone, Debug)]
pub struct Retracted {
    /// The retraction's entry in this node's log.
    pub index: u64,
    /// When this node logged it, Unix ms.
    pub logged_at: u64,
    /// When its author made it, Unix ms.
    pub created_at: u64,
    /// The field paths it withdraws; `None` for the whole notice.
    pub paths: Option<Vec<String>>,
}

/// The objects of a notice that came to be at one entry of the log: the
/// notice's own entry (its first versions) or a retraction's (the
/// versions it made).
#[derive(Clone, Debug)]
pub struct Stage {
    /// The entry.
    pub index: u64,
    /// When this node logged it, Unix ms: the objects' `date_added`.
    pub logged_at: u64,
    /// The objects, or versions of them, it made.
    pub objects: Vec<Object>,
}

/// Whether `o` is a versioned object (a domain, relationship or meta
/// object): observables have no `modified`.
fn versioned(o: &Object) -> bool {
    o.contains_key("modified")
}

/// Whether `a` and `b` are one version but for `modified`.
fn same_but_modified(a: &Object, b: &Object) -> bool {
    let mut b = b.clone();
    if let Some(m) = a.get("modified") {
        b.insert("modified".into(), m.clone());
    }
    *a == b
}

fn id(o: &Object) -> String {
    str_of(o, "id").to_owned()
}

/// `view`'s objects, stage by stage: as sent, then as each of
/// `retractions` (in log order) left them.
pub fn history(
    view: &NoticeView,
    cx: &Context<'_>,
    retractions: &[Retracted],
) -> Result<Vec<Stage>, Error> {
    let mut first = objects(view, cx, &[])?;
    // A value erased here is gone from what the node exports from then on:
    // the report or note that named it is a version as of the erasure.
    let mut last = view.created_at.0;
    if let Some(erased) = view.erased.iter().map(|e| e.erased_at.0).max()
        && erased > last
        && let Some(primary) = first.first_mut()
    {
        primary.insert("modified".into(), json!(timestamp(erased)));
        last = erased;
    }
    // Versions are listed in the order of the first: the report or note
    // first.
    let order: Vec<String> = first.iter().map(id).collect();
    let mut current: BTreeMap<String, Object> = first.iter().map(|o| (id(o), o.clone())).collect();
    let mut stages = vec![Stage {
        index: view.index,
        logged_at: view.logged_at.0,
        objects: first,
    }];
    if current.is_empty() {
        return Ok(stages);
    }
    let mut withdrawn: Vec<String> = Vec::new();
    for r in retractions {
        // A new version is later than the one before it, whatever the clocks.
        last = r.created_at.max(last + 1);
        let modified = json!(timestamp(last));
        let revoke = |o: &Object| {
            let mut v = o.clone();
            v.insert("modified".into(), modified.clone());
            v.insert("revoked".into(), json!(true));
            v
        };
        let mut made = Vec::new();
        let live = |o: &Object| versioned(o) && o.get("revoked") != Some(&json!(true));
        match &r.paths {
            None => made.extend(
                order
                    .iter()
                    .filter_map(|k| current.get(k))
                    .filter(|o| live(o))
                    .map(revoke),
            ),
            Some(paths) => {
                withdrawn.extend(paths.iter().cloned());
                let next: BTreeMap<String, Object> = objects(view, cx, &withdrawn)?
                    .into_iter()
                    .map(|o| (id(&o), o))
                    .collect();
                let live_now = order
                    .iter()
                    .filter_map(|k| Some((k, current.get(k)?)))
                    .filter(|(_, o)| live(o));
                for (key, old) in live_now {
                    match next.get(key) {
                        None => made.push(revoke(old)),
                        Some(new) if same_but_modified(new, old) => {}
                        Some(new) => {
                            let mut v = new.clone();
                            v.insert("modified".into(), modified.clone());
                            made.push(v);
                        }
                    }
                }
            }
        }
        for o in &made {
            current.insert(id(o), o.clone());
        }
        stages.push(Stage {
            index: r.index,
            logged_at: r.logged_at,
            objects: made,
        });
    }
    Ok(stages)
}
