//! RFC 6962 / RFC 9162 Merkle trees: hashing, roots, inclusion and
//! consistency proofs over any [`LeafHashSource`], and proof verification by
//! the RFC 9162 algorithms.
//!
//! - leaf hash = SHA-256(0x00 || leaf bytes)
//! - node hash = SHA-256(0x01 || left || right)
//! - a tree of n > 1 leaves splits at the largest power of two below n.

use sha2::{Digest, Sha256};

use crate::Error;

/// A 32-byte SHA-256 tree hash.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// A leaf hash computed in two steps: the hash state after `0x00 || prefix`
/// is kept, so the leaf hash of `prefix || suffix` costs only the suffix.
/// (The store hashes an entry's body before it knows the index it appends
/// after the body.)
#[derive(Clone)]
pub struct LeafHashPrefix(Sha256);

impl LeafHashPrefix {
    /// Hashes `0x00 || prefix`.
    pub fn new(prefix: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(prefix);
        Self(h)
    }

    /// The leaf hash of `prefix || suffix`.
    pub fn finish(&self, suffix: &[u8]) -> Hash {
        let mut h = self.0.clone();
        h.update(suffix);
        h.finalize().into()
    }
}

impl std::fmt::Debug for LeafHashPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeafHashPrefix")
    }
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (n >= 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where the tree's hashes come from. A store implements this over its
/// persisted nodes so that proofs cost O(log n) reads; the default
/// [`perfect_subtree`](LeafHashSource::perfect_subtree) recomputes from leaves.
pub trait LeafHashSource {
    /// The source's error; it must carry the core's range errors.
    type Error: From<Error>;

    /// The number of leaves available.
    fn size(&self) -> u64;

    /// The hash of leaf `index`.
    fn leaf_hash(&self, index: u64) -> Result<Hash, Self::Error>;

    /// The root of the perfect subtree of `2^level` leaves starting at
    /// `start`, which is a multiple of `2^level`.
    fn perfect_subtree(&self, start: u64, level: u32) -> Result<Hash, Self::Error> {
        if level == 0 {
            return self.leaf_hash(start);
        }
        let half = 1u64 << (level - 1);
        Ok(node_hash(
            &self.perfect_subtree(start, level - 1)?,
            &self.perfect_subtree(start + half, level - 1)?,
        ))
    }
}

/// MTH(D[start..end]) for a non-empty range.
fn mth<S: LeafHashSource + ?Sized>(src: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return src.perfect_subtree(start, n.trailing_zeros());
    }
    let k = split(n);
    Ok(node_hash(
        &mth(src, start, start + k)?,
        &mth(src, start + k, end)?,
    ))
}

fn check_size<S: LeafHashSource + ?Sized>(src: &S, size: u64) -> Result<(), Error> {
    if size > src.size() {
        return Err(Error::TreeSize {
            size,
            available: src.size(),
        });
    }
    Ok(())
}

/// The root of the first `size` leaves of `src`.
pub fn root<S: LeafHashSource + ?Sized>(src: &S, size: u64) -> Result<Hash, S::Error> {
    check_size(src, size)?;
    if size == 0 {
        return Ok(empty_root());
    }
    mth(src, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves
/// (RFC 6962 section 2.1.1, PATH).
pub fn inclusion_proof<S: LeafHashSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    check_size(src, size)?;
    if index >= size {
        return Err(
            Error::ProofRange(format!("index {index} is not below tree size {size}")).into(),
        );
    }
    let mut out = Vec::with_capacity(64);
    let (mut start, mut end) = (0, size);
    let mut siblings = Vec::with_capacity(64);
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            siblings.push((start + k, end));
            end = start + k;
        } else {
            siblings.push((start, start + k));
            start += k;
        }
    }
    for (s, e) in siblings.into_iter().rev() {
        out.push(mth(src, s, e)?);
    }
    Ok(out)
}

/// The consistency proof between the trees of the first `old` and `new`
/// leaves (RFC 6962 section 2.1.2, PROOF). It is empty when `old` is 0 or
/// equals `new`.
pub fn consistency_proof<S: LeafHashSource + ?Sized>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, S::Error> {
    check_size(src, new)?;
    if old > new {
        return Err(Error::ProofRange(format!("old size {old} is above new size {new}")).into());
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start..end], b), unrolled; the hashes are pushed
    // deepest first, as the recursion would.
    let (mut m, mut start, end_all) = (old, 0u64, new);
    let mut end = end_all;
    let mut complete = true;
    let mut ranges = Vec::with_capacity(64);
    loop {
        let n = end - start;
        if m == n {
            if !complete {
                ranges.push((start, end));
            }
            break;
        }
        let k = split(n);
        if m <= k {
            ranges.push((start + k, end));
            end = start + k;
        } else {
            ranges.push((start, start + k));
            m -= k;
            start += k;
            complete = false;
        }
    }
    let mut out = Vec::with_capacity(ranges.len());
    for (s, e) in ranges.into_iter().rev() {
        out.push(mth(src, s, e)?);
    }
    Ok(out)
}

/// Verifies an inclusion proof (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), Error> {
    let fail = |why: &str| {
        Err(Error::ProofInvalid(format!(
            "inclusion of {index} in {size}: {why}"
        )))
    };
    if index >= size {
        return fail("index is not below the tree size");
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return fail("proof is too long");
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return fail("proof is too short");
    }
    if &r != root {
        return fail("root does not match");
    }
    Ok(())
}

/// Verifies a consistency proof between tree sizes `old` and `new` with
/// roots `old_root` and `new_root` (RFC 9162 section 2.1.4.2). From size 0
/// every tree is consistent with an empty proof; equal sizes need equal
/// roots and an empty proof.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), Error> {
    let fail = |why: &str| {
        Err(Error::ProofInvalid(format!(
            "consistency of {old} with {new}: {why}"
        )))
    };
    if old > new {
        return fail("old size is above new size");
    }
    if old == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            fail("proof from the empty tree must be empty")
        };
    }
    if old == new {
        if !proof.is_empty() {
            return fail("proof between equal sizes must be empty");
        }
        return if old_root == new_root {
            Ok(())
        } else {
            fail("roots of equal sizes differ")
        };
    }
    if proof.is_empty() {
        return fail("proof is empty");
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return fail("proof is too long");
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return fail("proof is too short");
    }
    if &fr != old_root {
        return fail("old root does not match");
    }
    if &sr != new_root {
        return fail("new root does not match");
    }
    Ok(())
}

/// An in-memory tree that keeps every perfect subtree's hash, so roots and
/// proofs cost O(log n). For tests, tools and small logs.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf by its data.
    pub fn push(&mut self, data: &[u8]) {
        self.push_hash(leaf_hash(data));
    }

    /// Appends a leaf by its hash.
    pub fn push_hash(&mut self, hash: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(hash);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let l = &self.levels[level];
            let parent = node_hash(&l[l.len() - 2], &l[l.len() - 1]);
            level += 1;
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(parent);
        }
    }

    /// The root over every leaf.
    pub fn root(&self) -> Hash {
        root(self, self.size()).unwrap_or_else(|_| empty_root())
    }
}

impl LeafHashSource for MemoryTree {
    type Error = Error;

    fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    fn leaf_hash(&self, index: u64) -> Result<Hash, Error> {
        self.perfect_subtree(index, 0)
    }

    fn perfect_subtree(&self, start: u64, level: u32) -> Result<Hash, Error> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get((start >> level) as usize))
            .copied()
            .ok_or(Error::TreeSize {
                size: start + (1 << level),
                available: self.size(),
            })
    }
}

/// The root of a stream of leaves, in constant memory: it keeps only the
/// roots of the perfect subtrees along the right edge (at most 64).
#[derive(Clone, Debug, Default)]
pub struct RootBuilder {
    size: u64,
    stack: Vec<Hash>,
}

impl RootBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes from the roots of the perfect subtrees that make up a tree
    /// of `size` leaves, largest first (one per set bit of `size`).
    pub fn resume(size: u64, frontier: Vec<Hash>) -> Result<Self, Error> {
        if frontier.len() != size.count_ones() as usize {
            return Err(Error::TreeSize {
                size,
                available: frontier.len() as u64,
            });
        }
        Ok(Self {
            size,
            stack: frontier,
        })
    }

    /// The perfect subtrees of the tree so far, largest first, as
    /// `(level, start)`: what [`resume`](Self::resume) takes.
    pub fn frontier_positions(size: u64) -> impl Iterator<Item = (u32, u64)> {
        (0..64u32)
            .rev()
            .filter(move |l| size & (1 << l) != 0)
            .map(move |l| (l, (size >> (l + 1)) << (l + 1)))
    }

    /// Appends a leaf by its hash.
    pub fn push_hash(&mut self, hash: Hash) {
        self.push_hash_visit(hash, |_, _, _| {});
    }

    /// Appends a leaf by its hash, calling `visit(level, start, hash)` for
    /// the leaf (level 0) and for every perfect subtree it completes.
    pub fn push_hash_visit(&mut self, mut hash: Hash, mut visit: impl FnMut(u32, u64, &Hash)) {
        let index = self.size;
        visit(0, index, &hash);
        let mut n = self.size;
        let mut level = 0;
        while n & 1 == 1 {
            // The stack's top is the sibling subtree of the same size.
            if let Some(left) = self.stack.pop() {
                hash = node_hash(&left, &hash);
            }
            n >>= 1;
            level += 1;
            visit(level, (index >> level) << level, &hash);
        }
        self.stack.push(hash);
        self.size += 1;
    }

    /// The number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root over the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// The RFC 6962 reference roots of ../shared/test-vectors/rfc6962-roots.txt (vendored).
    #[test]
    fn roots_match_shared_vectors() {
        let text = include_str!("../test-vectors/rfc6962-roots.txt");
        let mut leaves = Vec::new();
        let mut roots = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some("leaf"), Some(_), hex) => leaves.push(decode_hex(hex.unwrap_or(""))),
                (Some("root"), Some(n), Some(hex)) => {
                    roots.push((n.parse::<u64>().unwrap(), decode_hex(hex)))
                }
                _ => {}
            }
        }
        assert_eq!(leaves.len(), 8);
        assert_eq!(roots.len(), 9);
        let mut tree = MemoryTree::new();
        let mut stream = RootBuilder::new();
        for (n, expected) in roots {
            while tree.size() < n {
                let leaf = &leaves[tree.size() as usize];
                tree.push(leaf);
                stream.push_hash(leaf_hash(leaf));
            }
            assert_eq!(root(&tree, n).unwrap().to_vec(), expected, "root {n}");
            assert_eq!(stream.root().to_vec(), expected, "streamed root {n}");
            // The recomputing default path must agree with the cached one.
            assert_eq!(
                root(&Leaves(&leaves[..n as usize]), n).unwrap().to_vec(),
                expected
            );
        }
    }

    /// A source that only knows leaves, exercising the default subtree path.
    struct Leaves<'a>(&'a [Vec<u8>]);

    impl LeafHashSource for Leaves<'_> {
        type Error = Error;
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn leaf_hash(&self, index: u64) -> Result<Hash, Error> {
            self.0
                .get(index as usize)
                .map(|l| leaf_hash(l))
                .ok_or(Error::TreeSize {
                    size: index + 1,
                    available: self.size(),
                })
        }
    }

    /// A naive recursive reference: MTH straight from RFC 6962.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn tree_of(n: u64) -> (MemoryTree, Vec<Hash>) {
        let mut t = MemoryTree::new();
        let mut hashes = Vec::new();
        for i in 0..n {
            let data = i.to_be_bytes();
            t.push(&data);
            hashes.push(leaf_hash(&data));
        }
        (t, hashes)
    }

    fn check_all_proofs(n: u64, t: &MemoryTree, hashes: &[Hash]) {
        let root_n = reference_root(&hashes[..n as usize]);
        assert_eq!(root(t, n).unwrap(), root_n);
        for i in 0..n {
            let p = inclusion_proof(t, i, n).unwrap();
            verify_inclusion(&hashes[i as usize], i, n, &p, &root_n).unwrap();
            if let Some(wrong) = hashes.get(i as usize + 1) {
                assert!(verify_inclusion(wrong, i, n, &p, &root_n).is_err());
            }
            if !p.is_empty() {
                assert!(
                    verify_inclusion(&hashes[i as usize], i, n, &p[..p.len() - 1], &root_n)
                        .is_err()
                );
            }
        }
        for m in 0..=n {
            let root_m = reference_root(&hashes[..m as usize]);
            let p = consistency_proof(t, m, n).unwrap();
            verify_consistency(m, n, &root_m, &root_n, &p).unwrap();
            if m > 0 && m < n {
                let mut forged = root_m;
                forged[0] ^= 1;
                assert!(verify_consistency(m, n, &forged, &root_n, &p).is_err());
                assert!(verify_consistency(m, n, &root_m, &forged, &p).is_err());
                let mut tampered = p.clone();
                tampered[0][5] ^= 0x10;
                assert!(verify_consistency(m, n, &root_m, &root_n, &tampered).is_err());
            }
        }
    }

    /// Every tree size 1..=64: every inclusion and every consistency proof.
    #[test]
    fn proofs_for_every_size_up_to_64() {
        let (t, hashes) = tree_of(64);
        for n in 1..=64 {
            check_all_proofs(n, &t, &hashes);
        }
    }

    #[test]
    fn leaf_hash_prefix_matches_leaf_hash() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        for split in [0, 1, 63, 64, 65, 1000, 3000] {
            assert_eq!(
                LeafHashPrefix::new(&data[..split]).finish(&data[split..]),
                leaf_hash(&data),
                "{split}"
            );
        }
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let (t, _) = tree_of(5);
        assert!(matches!(root(&t, 6), Err(Error::TreeSize { .. })));
        assert!(matches!(
            inclusion_proof(&t, 5, 5),
            Err(Error::ProofRange(_))
        ));
        assert!(matches!(
            consistency_proof(&t, 4, 3),
            Err(Error::ProofRange(_))
        ));
        assert!(matches!(
            consistency_proof(&t, 3, 9),
            Err(Error::TreeSize { .. })
        ));
        assert!(verify_inclusion(&[0; 32], 0, 0, &[], &[0; 32]).is_err());
    }

    #[test]
    fn root_builder_reports_nodes_and_resumes() {
        let (t, hashes) = tree_of(45);
        let mut b = RootBuilder::new();
        let mut seen = Vec::new();
        for h in &hashes[..37] {
            b.push_hash_visit(*h, |level, start, hash| seen.push((level, start, *hash)));
        }
        for (level, start, hash) in &seen {
            assert_eq!(
                t.perfect_subtree(*start, *level).unwrap(),
                *hash,
                "{level}/{start}"
            );
        }
        assert_eq!(
            seen.len(),
            37 + (37 - 3),
            "every leaf and every completed parent"
        );
        let frontier: Vec<Hash> = RootBuilder::frontier_positions(37)
            .map(|(l, s)| t.perfect_subtree(s, l).unwrap())
            .collect();
        assert_eq!(
            RootBuilder::frontier_positions(37).collect::<Vec<_>>(),
            vec![(5, 0), (2, 32), (0, 36)]
        );
        let mut resumed = RootBuilder::resume(37, frontier).unwrap();
        for h in &hashes[37..] {
            resumed.push_hash(*h);
            b.push_hash(*h);
        }
        assert_eq!(resumed.root(), reference_root(&hashes));
        assert_eq!(b.root(), resumed.root());
        assert!(RootBuilder::resume(37, vec![[0; 32]; 2]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random larger trees: sampled inclusion and consistency proofs.
        #[test]
        fn random_larger_trees(n in 65u64..3000, picks in prop::collection::vec(any::<u64>(), 8)) {
            let (t, hashes) = tree_of(n);
            let root_n = reference_root(&hashes);
            prop_assert_eq!(t.root(), root_n);
            let mut stream = RootBuilder::new();
            hashes.iter().for_each(|h| stream.push_hash(*h));
            prop_assert_eq!(stream.root(), root_n);
            for pick in picks {
                let i = pick % n;
                let p = inclusion_proof(&t, i, n).unwrap();
                prop_assert!(verify_inclusion(&hashes[i as usize], i, n, &p, &root_n).is_ok());
                let m = (pick >> 20) % (n + 1);
                let root_m = reference_root(&hashes[..m as usize]);
                let c = consistency_proof(&t, m, n).unwrap();
                prop_assert!(verify_consistency(m, n, &root_m, &root_n, &c).is_ok());
                if m > 0 && m < n {
                    prop_assert!(verify_consistency(m, n, &root_m, &root_n, &c[1..]).is_err());
                }
            }
        }
    }
}
