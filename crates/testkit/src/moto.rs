//! moto's standalone server on a free loopback port: one shared per process, or
//! dedicated ones (with the call recorder) for measurements.
//!
//! Clients reach it through a proxy that only repairs what moto gets wrong whatever the
//! timing (`Profile::moto_fixes`: moto drops a DB subnet group on ModifyDBSubnetGroup,
//! and its Resource Groups Tagging API does not list DB subnet groups, which AWS's
//! does): `endpoint` is the proxy's, `server_endpoint` moto's own.
//!
//! The server runs under a small shell wrapper that holds a pipe from this process and
//! stops the server when the pipe closes, so the server goes away with the process
//! however it ends (normal exit, panic, or kill -9).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    /// Where clients send AWS calls: the repairing proxy in front of the server.
    pub endpoint: String,
    /// The server itself, for what must not pass a proxy.
    pub server_endpoint: String,
    /// The server's port (its own API: the recorder, the reset).
    pub port: u16,
    fixes: stackup_proxy::Proxy,
    wrapper: Mutex<Child>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing the wrapper's stdin stops the server.
        if let Ok(mut child) = self.wrapper.lock() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

static MOTO: OnceLock<Moto> = OnceLock::new();

impl Moto {
    /// The shared server, started on first use.
    pub fn shared() -> &'static Moto {
        MOTO.get_or_init(|| Moto::start(false))
    }

    /// A server of the caller's own, with moto's call recorder available: for counting
    /// API calls without other users' calls mixed in.
    pub fn dedicated_with_recorder() -> Moto {
        Moto::start(true)
    }

    fn start(recorder: bool) -> Moto {
        // The workspace root: scripts/ensure-moto installs the pinned server.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let ensure = Command::new(root.join("scripts/ensure-moto"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/ensure-moto");
        assert!(ensure.status.success(), "scripts/ensure-moto failed");
        let server = String::from_utf8_lossy(&ensure.stdout).trim().to_string();
        let port = free_port();
        let log = std::env::temp_dir().join(format!("stackup-moto-{port}.log"));
        let recording = std::env::temp_dir().join(format!("stackup-moto-{port}.recording"));
        let env = if recorder {
            format!("MOTO_RECORDER_FILEPATH='{}' ", recording.display())
        } else {
            String::new()
        };
        // `cat` returns when our end of its stdin closes, i.e. when this process dies.
        let script = format!(
            "{env}'{server}' -H 127.0.0.1 -p {port} > '{}' 2>&1 & pid=$!; cat > /dev/null; kill $pid",
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
        let server_endpoint = format!("http://127.0.0.1:{port}");
        let fixes = stackup_proxy::Proxy::start(&server_endpoint, stackup_proxy::Profile::moto_fixes(), 1.0, 0);
        Moto {
            endpoint: fixes.endpoint.clone(),
            server_endpoint,
            port,
            fixes,
            wrapper: Mutex::new(wrapper),
        }
    }

    /// The calls clients made so far, per `service:Action`, as the repairing proxy
    /// counted them (the server's recorder also sees the calls the proxy makes to
    /// emulate what moto lacks).
    pub fn calls(&self) -> std::collections::BTreeMap<String, usize> {
        self.fixes.counts()
    }

    /// Starts recording API calls (dedicated servers only), discarding earlier ones.
    pub fn start_recording(&self) {
        self.request("POST", "/moto-api/recorder/reset-recording");
        self.request("POST", "/moto-api/recorder/start-recording");
    }

    /// Stops recording and returns the recorded calls' actions, one per wire attempt
    /// (retries included).
    pub fn stop_recording(&self) -> Vec<String> {
        self.request("POST", "/moto-api/recorder/stop-recording");
        let body = self.request("GET", "/moto-api/recorder/download-recording");
        body.lines().filter(|l| !l.trim().is_empty()).map(action_of).collect()
    }

    /// A plain HTTP/1.0 request to the server's own API; returns the body.
    fn request(&self, method: &str, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        let req = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
        stream.write_all(req.as_bytes()).expect("write to moto");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    /// The SDK configuration of a user looking at this server.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        crate::sdk_config(&self.endpoint)
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

/// The action of one recorded request: `X-Amz-Target` for JSON services, `Action=` in
/// the (base64-encoded) body for query services, else the method and path (S3).
fn action_of(line: &str) -> String {
    let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
        return "unparsed".to_string();
    };
    if let Some(target) = record["headers"]["X-Amz-Target"].as_str() {
        return target.to_string();
    }
    let body = record["body"].as_str().unwrap_or_default();
    let body = if record["body_encoded"].as_bool() == Some(true) {
        aws_smithy_types::base64::decode(body)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    } else {
        body.to_string()
    };
    if let Some(action) = body.split('&').find_map(|p| p.strip_prefix("Action=")) {
        return action.to_string();
    }
    let method = record["method"].as_str().unwrap_or("?");
    let url = record["url"].as_str().unwrap_or("?");
    let path = url
        .split("://")
        .nth(1)
        .and_then(|u| u.split_once('/'))
        .map(|(_, p)| p)
        .unwrap_or(url);
    format!("{method} /{}", path.split('?').next().unwrap_or(""))
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
