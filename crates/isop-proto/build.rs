//! Compiles `proto/isop/v1/*.proto` with protox (pure Rust; no system protoc)
//! and generates the prost types.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let dir = root.join("isop/v1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed={}", dir.display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    let encoded = prost::Message::encode_to_vec(&descriptors);
    prost_build::Config::new()
        .bytes(["."])
        .compile_fds(descriptors)?;
    // Serde impls in the canonical protobuf JSON mapping (pbjson), with
    // the proto field names, and the schema itself for what reads JSON by it.
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        .preserve_proto_field_names()
        .build(&[".isop.v1"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("isop.v1.descriptors.bin"), &encoded)?;
    Ok(())
}
