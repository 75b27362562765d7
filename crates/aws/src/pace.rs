//! Rate limits as a schedule: every call to AWS waits for a token of its service and
//! action class before it is sent, so that a run of a thousand operations stays within
//! the account's limits instead of being refused and backing off.
//!
//! The buckets are seeded from the limits AWS publishes: EC2's request token buckets
//! ("Request throttling for the Amazon EC2 API", Amazon EC2 API Reference,
//! https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html: non-mutating
//! actions 100 tokens refilled at 20 per second, mutating actions 200 at 5,
//! RunInstances' resource bucket 1000 at 2, TerminateInstances' 1000 at 20) and
//! Elastic Load Balancing's ("API throttling", ELB User Guide,
//! https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html:
//! Describe* 40 at 10 per second; the mutating actions' smaller buckets, taken as 20 at
//! 4). Services without a published figure get a bucket the first time AWS throttles
//! them. Every bucket adapts to AWS's answers: a throttling answer halves its rate
//! (multiplicative decrease; other clients of the account share AWS's bucket), each
//! call that passes adds a fiftieth of the seed back (additive increase), never above
//! the seed, never below a sixteenth of it.
//!
//! The limiter sits under the SDK as its HTTP client ([`paced_http_client`]), so it
//! sees every attempt of every call, retries included, of every provider, without a
//! change to them. Throttling is recognised on the wire (HTTP 400, 429 or 503 with a
//! throttling code in the body). The SDK's own adaptive retry mode stays on as the
//! second line: it retries what the limiter could not prevent.
//!
//! The trade-off, measured in `stackup-bench --only scale`: the seeded buckets let a
//! 1,000-resource run send exactly as fast as AWS allows from its first call, where a
//! limiter that only learns from refusals (the SDK's adaptive mode alone) spends the
//! first refusals learning and then backs off below the limit.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use http_body_util::BodyExt;

/// A bucket's published figures: refill per second and capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Seed {
    rate: f64,
    burst: f64,
}

/// A service without a published limit, once AWS has throttled it: this rate, and up to
/// four times it while calls pass.
const UNPUBLISHED: Seed = Seed {
    rate: 10.0,
    burst: 10.0,
};

/// The bucket a call of `service` (its SigV4 signing name) and `action` draws from, and
/// its published figures; None for the classes AWS publishes no limit for.
fn published(service: &str, action: &str) -> Option<(String, Seed)> {
    let read = ["Describe", "Get", "List", "Search"]
        .iter()
        .any(|p| action.starts_with(p));
    let (class, seed) = match service {
        "ec2" => match action {
            "RunInstances" => (
                "RunInstances",
                Seed {
                    rate: 2.0,
                    burst: 1000.0,
                },
            ),
            "TerminateInstances" => (
                "TerminateInstances",
                Seed {
                    rate: 20.0,
                    burst: 1000.0,
                },
            ),
            _ if read => (
                "non-mutating",
                Seed {
                    rate: 20.0,
                    burst: 100.0,
                },
            ),
            _ => (
                "mutating",
                Seed {
                    rate: 5.0,
                    burst: 200.0,
                },
            ),
        },
        "elasticloadbalancing" => match action.starts_with("Describe") {
            true => (
                "Describe",
                Seed {
                    rate: 10.0,
                    burst: 40.0,
                },
            ),
            false => ("mutating", Seed { rate: 4.0, burst: 20.0 }),
        },
        _ => return None,
    };
    Some((format!("{service} {class}"), seed))
}

/// The bucket of a service AWS publishes nothing for.
fn unpublished_class(service: &str, action: &str) -> String {
    let read = ["Describe", "Get", "List", "Head"]
        .iter()
        .any(|p| action.starts_with(p));
    format!("{service} {}", if read { "reads" } else { "writes" })
}

/// One bucket: its seed, its current (adapted) rate and its fill, and what it did.
#[derive(Clone, Debug)]
struct Bucket {
    seed: Seed,
    ceiling: f64,
    rate: f64,
    /// May go below zero: a call that must wait reserves its token at once, so calls
    /// are released one refill interval apart, in the order they asked.
    tokens: f64,
    last: Instant,
    calls: usize,
    waited: usize,
    wait_total: Duration,
    throttled: usize,
    lowest_rate: f64,
    /// Tokens the refill would have added beyond a full bucket: capacity no call was
    /// there to use.
    unused: f64,
    first: Option<Instant>,
}

impl Bucket {
    fn new(seed: Seed, ceiling: f64, now: Instant) -> Bucket {
        // A tenth of the burst is kept back: calls released a refill apart can reach AWS
        // bunched (connections opened, packets queued) and find its bucket capped.
        let seed = Seed {
            rate: seed.rate,
            burst: (seed.burst * 0.9).floor().max(1.0),
        };
        Bucket {
            seed,
            ceiling,
            rate: seed.rate,
            tokens: seed.burst,
            last: now,
            calls: 0,
            waited: 0,
            wait_total: Duration::ZERO,
            throttled: 0,
            lowest_rate: seed.rate,
            unused: 0.0,
            first: None,
        }
    }

    /// Takes a token at `now`: how long the call must wait for it.
    fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let refilled = self.tokens + elapsed * self.rate;
        if self.first.is_some() {
            self.unused += (refilled - self.seed.burst).max(0.0);
        }
        self.tokens = refilled.min(self.seed.burst);
        self.last = now;
        self.first.get_or_insert(now);
        self.calls += 1;
        let wait = if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        };
        self.tokens -= 1.0;
        if !wait.is_zero() {
            self.waited += 1;
            self.wait_total += wait;
        }
        wait
    }

    /// AWS throttled a call: half the rate, and no burst left.
    fn throttled(&mut self) {
        self.throttled += 1;
        self.rate = (self.rate / 2.0).max(self.seed.rate / 16.0);
        self.tokens = self.tokens.min(0.0);
        self.lowest_rate = self.lowest_rate.min(self.rate);
    }

    /// A call passed: a fiftieth of the seed back.
    fn passed(&mut self) {
        self.rate = (self.rate + self.seed.rate / 50.0).min(self.ceiling);
    }
}

/// The limiter: one bucket per service and action class, shared by every client of one
/// [`crate::AwsClients`].
pub struct Pacer {
    /// Multiplies every rate (1 against AWS). A benchmark whose proxy refills its
    /// buckets faster sets the same factor here; 0 turns pacing off (every call goes at
    /// once, and nothing adapts), for tests against a server without limits.
    scale: f64,
    buckets: Mutex<BTreeMap<String, Bucket>>,
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("scale", &self.scale)
            .finish_non_exhaustive()
    }
}

impl Pacer {
    /// Paced at AWS's published limits.
    pub fn published() -> Pacer {
        Pacer::scaled(1.0)
    }

    /// Paced at `scale` times AWS's published limits (0: not paced).
    pub fn scaled(scale: f64) -> Pacer {
        Pacer {
            scale: if scale.is_finite() { scale.max(0.0) } else { 1.0 },
            buckets: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Bucket>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bucket for a call and its class, created when it has a published seed; None
    /// when the call is not paced (no limit published, and AWS has not throttled the
    /// class yet).
    fn bucket<'b>(
        &self,
        service: &str,
        action: &str,
        now: Instant,
        buckets: &'b mut BTreeMap<String, Bucket>,
    ) -> Option<(String, &'b mut Bucket)> {
        if self.scale == 0.0 {
            return None;
        }
        if let Some((class, seed)) = published(service, action) {
            let scaled = Seed {
                rate: seed.rate * self.scale,
                burst: seed.burst,
            };
            let bucket = buckets
                .entry(class.clone())
                .or_insert_with(|| Bucket::new(scaled, scaled.rate, now));
            return Some((class, bucket));
        }
        let class = unpublished_class(service, action);
        let bucket = buckets.get_mut(&class)?;
        Some((class, bucket))
    }

    /// How long a call of `service` / `action` must wait before it is sent (its token
    /// is taken now).
    fn reserve(&self, service: &str, action: &str, now: Instant) -> Duration {
        let mut buckets = self.lock();
        let Some((class, bucket)) = self.bucket(service, action, now, &mut buckets) else {
            return Duration::ZERO;
        };
        let wait = bucket.reserve(now);
        if !wait.is_zero() {
            tracing::debug!(
                "{service}:{action} waits {} for a token of {class} ({:.1}/s)",
                humantime::format_duration(Duration::from_millis(wait.as_millis() as u64)),
                bucket.rate
            );
        }
        wait
    }

    /// What AWS answered a call: throttled or not.
    fn answered(&self, service: &str, action: &str, throttled: bool, now: Instant) {
        if self.scale == 0.0 {
            return;
        }
        let mut buckets = self.lock();
        match (self.bucket(service, action, now, &mut buckets), throttled) {
            (Some((class, b)), true) => {
                b.throttled();
                tracing::info!("AWS throttled {service}:{action}: {class} now paced at {:.1}/s", b.rate);
            }
            (Some((_, b)), false) => b.passed(),
            // The first throttling of a service AWS publishes nothing for.
            (None, true) => {
                let seed = Seed {
                    rate: UNPUBLISHED.rate * self.scale,
                    burst: UNPUBLISHED.burst,
                };
                let mut bucket = Bucket::new(seed, seed.rate * 4.0, now);
                bucket.throttled = 1;
                bucket.tokens = 0.0;
                let class = unpublished_class(service, action);
                tracing::info!(
                    "AWS throttled {service}:{action}: {class} now paced at {:.1}/s",
                    seed.rate
                );
                buckets.insert(class, bucket);
            }
            (None, false) => {}
        }
    }

    /// What the limiter decided so far, a line per bucket that took a call:
    /// `ec2 mutating: 756 calls, 512 waited 23.1 s in all, 0 throttled, at 20/s`.
    pub fn summary(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, b)| b.calls > 0 || b.throttled > 0)
            .map(|(class, b)| {
                let mut line = format!(
                    "{class}: {} calls, {} waited {} in all, {} throttled, at {:.1}/s (seed {:.1}/s",
                    b.calls,
                    b.waited,
                    humantime::format_duration(Duration::from_millis(b.wait_total.as_millis() as u64)),
                    b.throttled,
                    b.rate,
                    b.seed.rate
                );
                if b.lowest_rate < b.seed.rate {
                    line.push_str(&format!(", lowest {:.1}/s", b.lowest_rate));
                }
                line.push(')');
                if let Some(first) = b.first {
                    let span = b.last.saturating_duration_since(first).as_secs_f64();
                    line.push_str(&format!(
                        "; first to last call {span:.1} s, idle capacity {:.1} s",
                        b.unused / b.rate
                    ));
                }
                line
            })
            .collect()
    }
}

/// The service (SigV4 signing name) and action of a request: the service from the
/// credential scope of its `Authorization` header, the action from `X-Amz-Target`
/// (JSON protocols), the `Action` parameter of a form body (query protocols), or the
/// method (REST protocols: `GET`/`HEAD` read, anything else writes).
fn call_of(request: &HttpRequest) -> (String, String) {
    let headers = request.headers();
    let service = headers
        .get("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or_default()
        .to_string();
    if let Some(target) = headers.get("x-amz-target") {
        return (service, target.rsplit('.').next().unwrap_or(target).to_string());
    }
    if let Some(action) = request
        .body()
        .bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|form| form.split('&').find_map(|p| p.strip_prefix("Action=")))
    {
        return (service, action.to_string());
    }
    let action = match request.method() {
        "GET" | "HEAD" => "Get",
        _ => "Put",
    };
    (service, action.to_string())
}

/// Whether an error answer's body says the call was throttled.
fn is_throttling(status: u16, body: &[u8]) -> bool {
    if !matches!(status, 400 | 429 | 503) {
        return false;
    }
    let text = String::from_utf8_lossy(body);
    [
        "Throttl",
        "RequestLimitExceeded",
        "SlowDown",
        "TooManyRequests",
        "Rate exceeded",
        "RequestThrottled",
    ]
    .iter()
    .any(|code| text.contains(code))
}

/// `inner`, every request paced by `pacer`.
pub(crate) fn paced_http_client(inner: SharedHttpClient, pacer: Arc<Pacer>) -> SharedHttpClient {
    SharedHttpClient::new(PacedClient { inner, pacer })
}

/// The SDK's default HTTPS client, built as `aws-smithy-runtime` builds it
/// (`default_https_client`): hyper 1 with rustls and aws-lc, the connector settings and
/// sleep of the client that uses it, and the proxy of `HTTPS_PROXY` / `HTTP_PROXY` /
/// `NO_PROXY`, for the limiter to wrap.
pub(crate) fn default_http_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{tls, ConnectorBuilder};
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[derive(Debug)]
struct PacedClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
}

impl HttpClient for PacedClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, pacer) = (self.inner.clone(), self.pacer.clone());
        HttpConnectorFuture::new(async move {
            let (service, action) = call_of(&request);
            let wait = pacer.reserve(&service, &action, Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let mut response = inner.call(request).await?;
            let status = response.status().as_u16();
            let mut throttled = false;
            if matches!(status, 400 | 429 | 503) {
                // Error bodies are small: read, looked at, and put back for the SDK.
                let body = std::mem::replace(response.body_mut(), SdkBody::taken());
                let bytes = body
                    .collect()
                    .await
                    .map_err(aws_smithy_runtime_api::client::result::ConnectorError::io)?
                    .to_bytes();
                throttled = is_throttling(status, &bytes);
                *response.body_mut() = SdkBody::from(bytes);
            }
            pacer.answered(&service, &action, throttled, Instant::now());
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_bucket_lets_its_burst_through_then_releases_calls_a_refill_apart() {
        let start = Instant::now();
        // A burst of 3.4: 3 once a tenth is kept back.
        let mut b = Bucket::new(Seed { rate: 5.0, burst: 3.4 }, 5.0, start);
        let waits: Vec<Duration> = (0..6).map(|_| b.reserve(start)).collect();
        assert_eq!(waits[..3], [Duration::ZERO; 3], "the burst goes at once");
        let ms: Vec<u128> = waits[3..].iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [200, 400, 600], "then one call per 1/5 s, in order");
        // 0.4 s later two tokens have refilled against three reserved: the next call
        // waits for two more refills.
        assert_eq!(b.reserve(at(start, 400)).as_millis(), 400);
        // Once the reservations are paid, calls go at once again.
        assert_eq!(b.reserve(at(start, 2000)), Duration::ZERO);
        assert_eq!((b.calls, b.waited), (8, 4));
    }

    #[test]
    fn throttling_halves_the_rate_down_to_a_floor_and_passing_calls_restore_it() {
        let start = Instant::now();
        let mut b = Bucket::new(
            Seed {
                rate: 16.0,
                burst: 10.0,
            },
            16.0,
            start,
        );
        b.throttled();
        assert_eq!(b.rate, 8.0);
        assert!(b.tokens <= 0.0, "no burst after a throttle");
        for _ in 0..10 {
            b.throttled();
        }
        assert_eq!(b.rate, 1.0, "never below a sixteenth of the seed");
        for _ in 0..1000 {
            b.passed();
        }
        assert_eq!(b.rate, 16.0, "never above the ceiling");
        assert_eq!(b.lowest_rate, 1.0);
        assert_eq!(b.throttled, 11);
    }

    #[test]
    fn published_limits_apply_to_ec2_and_elb_by_action_class() {
        let class = |s, a| published(s, a).map(|(c, seed)| (c, seed.rate, seed.burst));
        assert_eq!(
            class("ec2", "DescribeVpcs"),
            Some(("ec2 non-mutating".into(), 20.0, 100.0))
        );
        assert_eq!(class("ec2", "CreateVpc"), Some(("ec2 mutating".into(), 5.0, 200.0)));
        assert_eq!(
            class("ec2", "RunInstances"),
            Some(("ec2 RunInstances".into(), 2.0, 1000.0))
        );
        assert_eq!(
            class("elasticloadbalancing", "DescribeTags"),
            Some(("elasticloadbalancing Describe".into(), 10.0, 40.0))
        );
        assert_eq!(
            class("elasticloadbalancing", "CreateListener"),
            Some(("elasticloadbalancing mutating".into(), 4.0, 20.0))
        );
        assert_eq!(class("sns", "CreateTopic"), None);
    }

    #[test]
    fn a_service_without_published_limits_is_paced_once_throttled() {
        let pacer = Pacer::published();
        let now = Instant::now();
        assert_eq!(pacer.reserve("sns", "CreateTopic", now), Duration::ZERO);
        assert!(pacer.summary().is_empty(), "nothing paced yet");
        pacer.answered("sns", "CreateTopic", true, now);
        assert!(pacer.reserve("sns", "CreateTopic", now) > Duration::ZERO, "then paced");
        assert_eq!(pacer.reserve("sns", "ListTopics", now), Duration::ZERO, "reads apart");
        let summary = pacer.summary();
        assert_eq!(summary.len(), 1, "{summary:?}");
        assert!(summary[0].starts_with("sns writes: 1 calls, 1 waited"), "{summary:?}");
    }

    #[test]
    fn an_unpaced_limiter_never_waits() {
        let pacer = Pacer::scaled(0.0);
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(pacer.reserve("ec2", "CreateVpc", now), Duration::ZERO);
        }
        pacer.answered("ec2", "CreateVpc", true, now);
        assert!(pacer.summary().is_empty());
    }

    #[test]
    fn throttling_is_read_from_error_answers_only() {
        let ec2 = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>";
        assert!(is_throttling(503, ec2));
        assert!(is_throttling(
            400,
            b"<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"
        ));
        assert!(is_throttling(
            400,
            br#"{"__type":"ThrottlingException","message":"slow down"}"#
        ));
        assert!(is_throttling(503, b"<Error><Code>SlowDown</Code></Error>"));
        assert!(!is_throttling(
            400,
            b"<Error><Code>InvalidParameterValue</Code></Error>"
        ));
        assert!(!is_throttling(200, b"Throttling"));
    }

    #[test]
    fn a_request_names_its_service_and_action() {
        let signed = |body: &'static str, target: Option<&'static str>, method: &str| {
            let mut builder = http::Request::builder()
                .method(method)
                .uri("https://example.com/")
                .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
            );
            if let Some(t) = target {
                builder = builder.header("x-amz-target", t);
            }
            let request = builder.body(SdkBody::from(body)).expect("a request");
            HttpRequest::try_from(request).expect("converts")
        };
        assert_eq!(
            call_of(&signed(
                "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16",
                None,
                "POST"
            )),
            ("ec2".to_string(), "CreateVpc".to_string())
        );
        assert_eq!(
            call_of(&signed("{}", Some("DynamoDB_20120810.CreateTable"), "POST")),
            ("ec2".to_string(), "CreateTable".to_string())
        );
        assert_eq!(call_of(&signed("", None, "GET")).1, "Get");
        assert_eq!(call_of(&signed("", None, "PUT")).1, "Put");
    }
}
