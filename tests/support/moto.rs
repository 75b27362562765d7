//! moto's standalone server, started once per test binary on a free loopback port.
//!
//! The server runs under a small shell wrapper that holds a pipe from this process and
//! stops the server when the pipe closes, so the server goes away with the tests however
//! they end (normal exit, panic, or kill -9).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    pub port: u16,
    _wrapper: Mutex<Child>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

impl Moto {
    /// The shared server, started on first use.
    pub fn shared() -> &'static Moto {
        MOTO.get_or_init(Moto::start)
    }

    fn start() -> Moto {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let ensure = Command::new(root.join("scripts/ensure-moto"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/ensure-moto");
        assert!(ensure.status.success(), "scripts/ensure-moto failed");
        let server = String::from_utf8_lossy(&ensure.stdout).trim().to_string();
        let port = free_port();
        let log = std::env::temp_dir().join(format!("stackup-moto-{port}.log"));
        // `cat` returns when our end of its stdin closes, i.e. when this process dies.
        let script = format!(
            "'{server}' -H 127.0.0.1 -p {port} > '{}' 2>&1 & pid=$!; cat > /dev/null; kill $pid",
            log.display()
        );
        let wrapper = Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start moto_server");
        wait_ready(port, &log);
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _wrapper: Mutex::new(wrapper),
        }
    }

    /// The SDK configuration of a user looking at this server.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "tests"),
            ))
            .build()
    }

    /// An S3 client; path-style, as a local endpoint needs.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk_config())
                .force_path_style(true)
                .build(),
        )
    }

    /// An EC2 client on this server, as a user would check the console.
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        let config = aws_sdk_ec2::config::Builder::new()
            .behavior_version_latest()
            .endpoint_url(&self.endpoint)
            .region(aws_sdk_ec2::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free loopback port")
}

fn wait_ready(port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut buf = [0u8; 16];
            if s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "moto_server did not start on port {port}; its log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
