//! Generates the gRPC code of `sas/v1/agent.proto` with a vendored `protoc`, so a fresh machine needs
//! nothing installed by hand. The `client` and `server` features pick which side of the service is built.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    tonic_prost_build::configure()
        .build_client(std::env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(std::env::var_os("CARGO_FEATURE_SERVER").is_some())
        .compile_protos(&["sas/v1/agent.proto"], &["."])?;
    println!("cargo:rerun-if-changed=sas/v1/agent.proto");
    Ok(())
}
