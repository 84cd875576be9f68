//! The two sides of a matching run: an OPRF-based private set
//! intersection over ristretto255 (RFC 9497, OPRF mode, suite
//! `ristretto255-SHA512`).
//!
//! The answerer draws a fresh OPRF key per run. The asker blinds each of
//! its items ([`Asker::new`]), the answerer evaluates the blinded elements
//! with its key ([`Answerer::evaluate`]) and sends, in a random order, a
//! record of each item it holds: the first [`TAG_LEN`] bytes of the item's
//! OPRF output, and where the policy reveals them, its sources masked with
//! the next byte ([`Answerer::records`]). The asker unblinds its
//! evaluations into its own items' OPRF outputs and looks each record's
//! tag up among them ([`Asker::records`]). `docs/MATCHING.md` has the
//! security argument.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_core::{CryptoRng, RngCore};
use voprf::{BlindedElement, EvaluationElement, OprfClient, OprfServer, Ristretto255};

use crate::item::Item;

/// The OPRF suite (RFC 9497 §4.1).
pub const SUITE: &str = "ristretto255-SHA512";
/// The bytes of one encoded group element.
pub const ELEMENT_LEN: usize = 32;
/// The bytes of a held item's tag.
pub const TAG_LEN: usize = 16;

/// Where a held item was found: bit 0 for the operator's list, bit `k`
/// for a notice of `isop.v1.NoticeKind` `k` (1 to 7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sources(pub u8);

impl Sources {
    /// The operator's list.
    pub const LIST: Self = Self(1);

    /// Notices of `kind` (its number in `isop.v1.NoticeKind`, 1 to 7).
    pub fn notice(kind: i32) -> Self {
        match u32::try_from(kind) {
            Ok(k @ 1..=7) => Self(1 << k),
            _ => Self(0),
        }
    }

    /// Both.
    pub fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The numbers of the notice kinds, and whether the operator's list
    /// is one of them (bit 0).
    pub fn kinds(self) -> impl Iterator<Item = i32> {
        (1..=7).filter(move |k| self.0 & (1 << k) != 0)
    }

    /// Whether the operator's list is among them.
    pub fn listed(self) -> bool {
        self.0 & 1 != 0
    }
}

/// A message of the other side that does not hold what it must.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A packed list whose length is not a whole number of its parts.
    #[error("{what}: {len} bytes is not a whole number of {unit}-byte parts")]
    Length {
        /// Which list.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The length of one part.
        unit: usize,
    },
    /// An element that does not decode to a non-identity ristretto255
    /// element.
    #[error("{what}: element {index} is not a valid ristretto255 element")]
    BadElement {
        /// Which list.
        what: &'static str,
        /// Its position in the list.
        index: usize,
    },
    /// More evaluations than blinded elements were sent, or records
    /// beyond the held count.
    #[error("{what}: {got} received, {expected} expected")]
    Count {
        /// Which list.
        what: &'static str,
        /// How many arrived in all.
        got: u64,
        /// How many there are.
        expected: u64,
    },
    /// A held position the answerer did not send.
    #[error("position {0} is beyond the held items sent")]
    Position(u64),
    /// The asker finished before it had every evaluation.
    #[error("{got} of {expected} evaluations received")]
    Unfinished {
        /// How many arrived.
        got: usize,
        /// How many were sent.
        expected: usize,
    },
}

/// The tag and the sources mask of an OPRF output.
fn tag_of(output: &[u8]) -> ([u8; TAG_LEN], u8) {
    let mut tag = [0; TAG_LEN];
    tag.copy_from_slice(&output[..TAG_LEN]);
    (tag, output[TAG_LEN])
}

/// Splits `bytes` into parts of `unit` bytes.
fn parts<'a>(what: &'static str, bytes: &'a [u8], unit: usize) -> Result<Vec<&'a [u8]>, Error> {
    if !bytes.len().is_multiple_of(unit) {
        return Err(Error::Length {
            what,
            len: bytes.len(),
            unit,
        });
    }
    Ok(bytes.chunks_exact(unit).collect())
}

/// Maps `f` over `items` on every core, in order.
fn par_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads == 1 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let tasks: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().map(f).collect::<Vec<U>>()))
            .collect();
        tasks
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// A random generator that yields 64 given bytes first (the blind a
/// scalar is reduced from), then fresh ones: blinding on every core with
/// randomness drawn from one generator.
struct Preset {
    bytes: [u8; 64],
    used: bool,
}

impl RngCore for Preset {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if !self.used && dest.len() == self.bytes.len() {
            dest.copy_from_slice(&self.bytes);
            self.used = true;
        } else {
            // Only if the preset bytes reduced to zero (2^-252).
            rand::rngs::OsRng.fill_bytes(dest);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Preset {}

/// The asking side of a run.
pub struct Asker {
    /// The items, in the order their blinded elements were sent.
    items: Vec<Item>,
    clients: Vec<OprfClient<Ristretto255>>,
    /// Each item's tag and sources mask, by the item's position; filled
    /// as evaluations arrive.
    outputs: Vec<([u8; TAG_LEN], u8)>,
    /// The items' positions by tag, once every evaluation is in.
    by_tag: HashMap<[u8; TAG_LEN], usize>,
    /// Held records seen.
    seen: u64,
    /// The matches: (item position, sources byte, held position).
    found: Vec<(usize, u8, u64)>,
}

impl std::fmt::Debug for Asker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asker")
            .field("items", &self.items.len())
            .field("evaluated", &self.outputs.len())
            .field("seen", &self.seen)
            .field("found", &self.found.len())
            .finish_non_exhaustive()
    }
}

/// What the asker learnt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Its items the answerer also holds, in the order given, with the
    /// sources the answerer revealed (`None` where it revealed none).
    pub matched: Vec<(Item, Option<Sources>)>,
    /// The positions, among the held records, of the matched ones: what
    /// the asker reports when the policy lets both sides learn the
    /// intersection.
    pub positions: Vec<u64>,
}

impl Asker {
    /// Blinds `items` (duplicates dropped, order kept) with randomness
    /// from `rng`, on every core: the asker, and the blinded elements to
    /// send, [`ELEMENT_LEN`] bytes each, in the items' order.
    pub fn new<R: RngCore + CryptoRng>(
        items: impl IntoIterator<Item = Item>,
        rng: &mut R,
    ) -> (Self, Vec<u8>) {
        let mut seen = std::collections::HashSet::new();
        let items: Vec<Item> = items
            .into_iter()
            .filter(|i| seen.insert(i.clone()))
            .collect();
        let presets: Vec<(&Item, [u8; 64])> = items
            .iter()
            .map(|i| {
                let mut bytes = [0; 64];
                rng.fill_bytes(&mut bytes);
                (i, bytes)
            })
            .collect();
        let blinded = par_map(&presets, |(item, bytes)| {
            let mut rng = Preset {
                bytes: *bytes,
                used: false,
            };
            // Inputs are at most a few KiB: far under the OPRF's 64 KiB.
            OprfClient::<Ristretto255>::blind(&item.input(), &mut rng)
                .expect("an item's input is under the OPRF's limit")
        });
        let mut message = Vec::with_capacity(blinded.len() * ELEMENT_LEN);
        let mut clients = Vec::with_capacity(blinded.len());
        for b in blinded {
            message.extend_from_slice(&b.message.serialize());
            clients.push(b.state);
        }
        let asker = Self {
            items,
            clients,
            outputs: Vec::new(),
            by_tag: HashMap::new(),
            seen: 0,
            found: Vec::new(),
        };
        (asker, message)
    }

    /// How many items are asked.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no item is asked.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many evaluations have arrived.
    pub fn evaluated(&self) -> usize {
        self.outputs.len()
    }

    /// The answerer's evaluations of the next blinded elements, in the
    /// order sent: unblinded into the items' OPRF outputs, on every core.
    pub fn evaluations(&mut self, packed: &[u8]) -> Result<(), Error> {
        const WHAT: &str = "the evaluated elements";
        let elements = parts(WHAT, packed, ELEMENT_LEN)?;
        let start = self.outputs.len();
        if start + elements.len() > self.items.len() {
            return Err(Error::Count {
                what: WHAT,
                got: (start + elements.len()) as u64,
                expected: self.items.len() as u64,
            });
        }
        let work: Vec<(usize, &[u8])> = elements
            .into_iter()
            .enumerate()
            .map(|(i, e)| (start + i, e))
            .collect();
        let outputs = par_map(&work, |&(i, bytes)| {
            let element = EvaluationElement::<Ristretto255>::deserialize(bytes).map_err(|_| {
                Error::BadElement {
                    what: WHAT,
                    index: i,
                }
            })?;
            let output = self.clients[i]
                .finalize(&self.items[i].input(), &element)
                .map_err(|_| Error::BadElement {
                    what: WHAT,
                    index: i,
                })?;
            Ok(tag_of(&output))
        });
        for output in outputs {
            self.outputs.push(output?);
        }
        if self.outputs.len() == self.items.len() {
            self.by_tag = self
                .outputs
                .iter()
                .enumerate()
                .map(|(i, (tag, _))| (*tag, i))
                .collect();
        }
        Ok(())
    }

    /// The answerer's next held records ([`Answerer::records`], each
    /// `record_len` bytes), matched against the asker's outputs. Every
    /// evaluation must be in first.
    pub fn records(&mut self, packed: &[u8], record_len: usize, held: u64) -> Result<(), Error> {
        const WHAT: &str = "the held records";
        if self.outputs.len() < self.items.len() {
            return Err(Error::Unfinished {
                got: self.outputs.len(),
                expected: self.items.len(),
            });
        }
        let records = parts(WHAT, packed, record_len)?;
        if self.seen + records.len() as u64 > held {
            return Err(Error::Count {
                what: WHAT,
                got: self.seen + records.len() as u64,
                expected: held,
            });
        }
        for record in records {
            if let Some(&i) = self.by_tag.get(&record[..TAG_LEN]) {
                let sources = record.get(TAG_LEN).map_or(0, |s| s ^ self.outputs[i].1);
                self.found.push((i, sources, self.seen));
            }
            self.seen += 1;
        }
        Ok(())
    }

    /// What the run found; `revealed` says whether the records carried
    /// sources.
    pub fn finish(mut self, revealed: bool) -> Result<Outcome, Error> {
        if self.outputs.len() < self.items.len() {
            return Err(Error::Unfinished {
                got: self.outputs.len(),
                expected: self.items.len(),
            });
        }
        self.found.sort_unstable();
        self.found.dedup_by_key(|f| f.0);
        let positions = self.found.iter().map(|f| f.2).collect();
        let matched = self
            .found
            .iter()
            .map(|&(i, sources, _)| (self.items[i].clone(), revealed.then_some(Sources(sources))))
            .collect();
        Ok(Outcome { matched, positions })
    }
}

/// The answering side of a run.
pub struct Answerer {
    server: OprfServer<Ristretto255>,
    /// The held items and their sources, in the order their records are
    /// sent (random).
    held: Vec<(Item, Sources)>,
    reveal_sources: bool,
}

impl std::fmt::Debug for Answerer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answerer")
            .field("held", &self.held.len())
            .field("reveal_sources", &self.reveal_sources)
            .finish_non_exhaustive()
    }
}

impl Answerer {
    /// An answerer for one run over `held` (an item held from several
    /// sources counts once, with all of them), with a fresh key from
    /// `rng`, its records in an order drawn from `rng`.
    pub fn new<R: RngCore + CryptoRng>(
        held: impl IntoIterator<Item = (Item, Sources)>,
        reveal_sources: bool,
        rng: &mut R,
    ) -> Self {
        // Sorted (so that the order sent depends on `rng` alone) and
        // merged in place: no second copy of a large list.
        let mut held: Vec<(Item, Sources)> = held.into_iter().collect();
        held.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        held.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.with(later.1);
            }
            same
        });
        held.shuffle(&mut rand::rngs::StdRng::from_rng(&mut *rng).expect("rng"));
        Self {
            server: OprfServer::new(rng).expect("a fresh OPRF key"),
            held,
            reveal_sources,
        }
    }

    /// An answerer with a given key (32-byte little-endian scalar), its
    /// records in `held`'s order: for known-answer tests.
    pub fn with_key(key: &[u8], held: Vec<(Item, Sources)>, reveal_sources: bool) -> Option<Self> {
        Some(Self {
            server: OprfServer::new_with_key(key).ok()?,
            held,
            reveal_sources,
        })
    }

    /// How many items are held.
    pub fn held_len(&self) -> u64 {
        self.held.len() as u64
    }

    /// Whether the records reveal each matched item's sources.
    pub fn reveals_sources(&self) -> bool {
        self.reveal_sources
    }

    /// The bytes of one held record: the tag, and the masked sources if
    /// they are revealed.
    pub fn record_len(&self) -> usize {
        TAG_LEN + usize::from(self.reveal_sources)
    }

    /// The held records from `offset`, at most `count` of them, packed,
    /// computed on every core.
    pub fn records(&self, offset: u64, count: usize) -> Vec<u8> {
        let start = usize::try_from(offset).map_or(self.held.len(), |o| o.min(self.held.len()));
        let end = start.saturating_add(count).min(self.held.len());
        let records = par_map(&self.held[start..end], |(item, sources)| {
            let output = self
                .server
                .evaluate(&item.input())
                .expect("an item's input is under the OPRF's limit");
            tag_of(&output)
                .0
                .into_iter()
                .chain(self.reveal_sources.then(|| sources.0 ^ output[TAG_LEN]))
                .collect::<Vec<u8>>()
        });
        records.concat()
    }

    /// Evaluates the asker's blinded elements with the run's key, on
    /// every core: the evaluated elements, in the same order.
    pub fn evaluate(&self, packed: &[u8]) -> Result<Vec<u8>, Error> {
        const WHAT: &str = "the blinded elements";
        let elements = parts(WHAT, packed, ELEMENT_LEN)?;
        let evaluated = par_map(
            &elements.into_iter().enumerate().collect::<Vec<_>>(),
            |&(i, e)| {
                BlindedElement::<Ristretto255>::deserialize(e)
                    .map(|b| self.server.blind_evaluate(&b).serialize())
                    .map_err(|_| Error::BadElement {
                        what: WHAT,
                        index: i,
                    })
            },
        );
        let mut out = Vec::with_capacity(evaluated.len() * ELEMENT_LEN);
        for e in evaluated {
            out.extend_from_slice(&e?);
        }
        Ok(out)
    }

    /// The held items at `positions` (what an asker reports it matched,
    /// when both sides learn the intersection).
    pub fn at(&self, positions: &[u64]) -> Result<Vec<(Item, Sources)>, Error> {
        positions
            .iter()
            .map(|&p| {
                usize::try_from(p)
                    .ok()
                    .and_then(|i| self.held.get(i))
                    .cloned()
                    .ok_or(Error::Position(p))
            })
            .collect()
    }
}
