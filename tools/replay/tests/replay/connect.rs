//! The `replay` binary reads `KAFKA_SECURITY` as the producer does: with `iam` its first bytes to
//! a broker are a TLS ClientHello (MSK's IAM port takes SASL/OAUTHBEARER over TLS), with
//! `plaintext` the Kafka protocol in the clear. Nothing answers; the first bytes are what count.

use std::{
    io::Read,
    net::TcpListener,
    process::{Command, Stdio},
    time::Duration,
};

/// The first bytes `replay` sends to a broker, run with `security` and fixed AWS credentials.
fn first_bytes_of_replay(security: &str) -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let brokers = listener.local_addr().unwrap().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_replay"))
        .env_clear()
        .args(["--no-align", "--idle", "1s"])
        .env("KAFKA_BROKERS", &brokers)
        .env("KAFKA_SECURITY", security)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "fixed-secret-key")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("LAKE_BUCKET", "data-lake")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut first = [0u8; 3];
    stream.read_exact(&mut first).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    first.to_vec()
}

#[test]
fn replay_reaches_msk_iam_over_tls() {
    let bytes = first_bytes_of_replay("iam");
    // TLS record: content type 22 (handshake), protocol major version 3
    assert_eq!(&bytes[..2], &[0x16, 0x03], "{bytes:02x?}");
}

#[test]
fn replay_speaks_plaintext_kafka_to_the_local_broker() {
    let bytes = first_bytes_of_replay("plaintext");
    // a Kafka request starts with its 4-byte big-endian length, far below 2^24
    assert_eq!(bytes[0], 0, "{bytes:02x?}");
}

/// `replay` run with `args` and no environment: its exit status and its stdout and stderr.
fn replay_with(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_replay"))
        .env_clear()
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_names_the_environment_it_reads_and_the_exit_statuses() {
    let output = replay_with(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for name in [
        "KAFKA_BROKERS",
        "LAKE_BUCKET",
        "ICEBERG_CATALOG",
        "SCHEMA_REGISTRY_URI",
        "75",
    ] {
        assert!(help.contains(name), "{name} in:\n{help}");
    }
}

#[test]
fn a_failed_batch_with_a_start_or_a_partition_is_refused_before_anything_is_read() {
    // given a failure record to store and a start it would ignore
    let output = replay_with(&["--failed-batch", "s3://failed/key", "--from", "12"]);

    // then clap refuses the pair and names both flags
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--failed-batch") && stderr.contains("--from"),
        "{stderr}"
    );
    let output = replay_with(&["--failed-batch", "s3://failed/key", "--partition", "1"]);
    assert_eq!(output.status.code(), Some(2));
}
