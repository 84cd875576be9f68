//! The schema documents itself: every message, field, oneof, enum and enum
//! value in `proto/isop/v1` carries a comment.

use std::collections::HashSet;
use std::path::PathBuf;

use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};

fn files() -> Vec<FileDescriptorProto> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let mut names: Vec<String> = std::fs::read_dir(root.join("isop/v1"))
        .unwrap()
        .map(|e| format!("isop/v1/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".proto"))
        .collect();
    names.sort();
    let mut compiler = protox::Compiler::new([&root]).unwrap();
    compiler.include_source_info(true).include_imports(false);
    compiler.open_files(&names).unwrap();
    compiler.file_descriptor_set().file
}

fn check_enum(
    e: &EnumDescriptorProto,
    path: Vec<i32>,
    documented: &HashSet<Vec<i32>>,
    missing: &mut Vec<String>,
) {
    if !documented.contains(&path) {
        missing.push(format!("enum {}", e.name()));
    }
    for (i, v) in e.value.iter().enumerate() {
        let mut p = path.clone();
        p.extend([2, i as i32]);
        if !documented.contains(&p) {
            missing.push(format!("enum value {}.{}", e.name(), v.name()));
        }
    }
}

fn check_message(
    m: &DescriptorProto,
    path: Vec<i32>,
    documented: &HashSet<Vec<i32>>,
    missing: &mut Vec<String>,
) {
    if !documented.contains(&path) {
        missing.push(format!("message {}", m.name()));
    }
    let sub = |kind: i32, i: usize| {
        let mut p = path.clone();
        p.extend([kind, i as i32]);
        p
    };
    for (i, f) in m.field.iter().enumerate() {
        if !documented.contains(&sub(2, i)) {
            missing.push(format!("field {}.{}", m.name(), f.name()));
        }
    }
    for (i, o) in m.oneof_decl.iter().enumerate() {
        // proto3 `optional` fields make synthetic oneofs; the field carries the comment.
        let synthetic = m
            .field
            .iter()
            .any(|f| f.proto3_optional() && f.oneof_index == Some(i as i32));
        if !synthetic && !documented.contains(&sub(8, i)) {
            missing.push(format!("oneof {}.{}", m.name(), o.name()));
        }
    }
    for (i, n) in m.nested_type.iter().enumerate() {
        check_message(n, sub(3, i), documented, missing);
    }
    for (i, e) in m.enum_type.iter().enumerate() {
        check_enum(e, sub(4, i), documented, missing);
    }
}

#[test]
fn every_element_has_a_comment() {
    let files = files();
    assert!(
        files.len() >= 7,
        "expected the seven v1 files, found {}",
        files.len()
    );
    let mut missing = Vec::new();
    let mut messages = 0;
    for f in &files {
        let info = f.source_code_info.as_ref().expect("source info requested");
        let documented: HashSet<Vec<i32>> = info
            .location
            .iter()
            .filter(|l| {
                l.leading_comments
                    .as_deref()
                    .is_some_and(|c| !c.trim().is_empty())
            })
            .map(|l| l.path.clone())
            .collect();
        for (i, m) in f.message_type.iter().enumerate() {
            messages += 1;
            check_message(m, vec![4, i as i32], &documented, &mut missing);
        }
        for (i, e) in f.enum_type.iter().enumerate() {
            check_enum(e, vec![5, i as i32], &documented, &mut missing);
        }
    }
    assert!(
        missing.is_empty(),
        "undocumented schema elements:\n{}",
        missing.join("\n")
    );
    assert!(messages >= 40, "only {messages} messages found");
}

#[test]
fn frame_covers_every_request_and_answer() {
    use isop_proto::v1::frame::Kind;
    use isop_proto::v1::*;
    use prost::Message;
    // Each case of the oneof round-trips through the wire format.
    let cases = vec![
        Kind::Deliver(Deliver::default()),
        Kind::Receipt(Envelope::default()),
        Kind::Sync(Sync {
            cursor: 7,
            limit: 100,
        }),
        Kind::SyncBatch(SyncBatch::default()),
        Kind::GetCheckpoint(GetCheckpoint {}),
        Kind::Checkpoint(Checkpoint::default()),
        Kind::GetConsistencyProof(GetConsistencyProof { from: 1, to: 2 }),
        Kind::ConsistencyProof(ConsistencyProof::default()),
        Kind::GetInclusionProof(GetInclusionProof { index: 1, size: 2 }),
        Kind::InclusionProof(InclusionProof::default()),
        Kind::RosterPush(RosterPush::default()),
        Kind::SubmitCosignature(SubmitCosignature::default()),
        Kind::Ack(Ack {}),
        Kind::Error(Error {
            code: ErrorCode::TooLarge as i32,
            message: "frame of 5 MiB".into(),
        }),
        Kind::GetRoster(GetRoster {}),
        Kind::Roster(RosterPush::default()),
    ];
    for (version, kind) in cases.into_iter().enumerate() {
        let f = Frame {
            kind: Some(kind),
            roster_version: version as u64,
        };
        assert_eq!(Frame::decode(f.encode_to_vec().as_slice()).unwrap(), f);
    }
}
