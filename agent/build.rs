//! Generates the gRPC code of `proto/sas/v1/agent.proto` with a vendored `protoc`, so a fresh machine
//! needs nothing installed by hand.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    tonic_prost_build::configure().compile_protos(&["../proto/sas/v1/agent.proto"], &["../proto"])?;
    println!("cargo:rerun-if-changed=../proto/sas/v1/agent.proto");
    Ok(())
}
