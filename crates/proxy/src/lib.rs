//! A fault- and latency-injecting HTTP proxy between the AWS SDK and moto (the test AWS
//! server), so that tests and the benchmark meet what moto never does: resources that
//! take minutes to create and delete, rate limits, throttling, server errors, dropped
//! connections, and reads that miss a resource created a moment ago.
//!
//! ```text
//! SDK client --(endpoint_url = proxy.endpoint)--> Proxy --> moto
//! ```
//!
//! Each request is classified by service (the SigV4 credential scope) and action
//! (`X-Amz-Target`, `Action=`, or the REST method and path for S3 and EFS), counted, and
//! checked against the [`Profile`]'s rules. A fault is answered by the proxy itself in
//! the service's real error shape; otherwise the request is held for the rule's latency
//! and forwarded unchanged, its response streamed back unchanged.
//!
//! **Faults are only ever injected before forwarding.** moto ignores client tokens, so a
//! fault injected after moto acted (say, dropping the connection after a
//! `RunInstances` succeeded) would make the SDK's retry create a second instance, a
//! duplicate that AWS itself would have prevented. Every fault here therefore means
//! "the server never saw this request", and a retry is always safe. (Lost responses
//! after the server acted are a real AWS failure mode too; crash-recovery tests cover
//! that ground by killing the process instead.)
//!
//! A profile may also reshape moto (`aws.toml`): lifecycles make reads show
//! transitional states for drawn durations (`lifecycle.rs`), causal rules fail calls
//! that use an object another call touched moments ago (`world.rs`), an RDS engine
//! catalog answers DescribeDBEngineVersions (`catalog.rs`), and moto bugs are worked
//! around (`fixes.rs`, `deferred.rs`, `tagging.rs`). Only such a profile has responses
//! read and rewritten.
//!
//! Connections are simple: one request per connection, `Connection: close`, plain HTTP
//! to a loopback upstream. Requests to moto's own API (`/moto-api/...`) pass through
//! untouched and uncounted.
//!
//! Architecture invariant: only tests and `stackup-bench` use this crate; it listens on
//! and forwards to 127.0.0.1 only.

mod catalog;
mod deferred;
mod faults;
mod fixes;
mod lifecycle;
mod notfound;
mod profile;
mod request;
mod rng;
mod tagging;
mod world;
mod xml;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

pub use lifecycle::{Lifecycle, Phase};
pub use profile::{Profile, ProfileError};

use faults::full;
use notfound::{Fresh, Spec};
use request::Call;
use rng::Rng;
use world::{Pre, World};

/// Every body the proxy sends: upstream's streamed through, or its own in memory.
pub(crate) type Body = BoxBody<Bytes, hyper::Error>;

/// A running proxy. Stops when dropped.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`: the endpoint URL to give SDK clients.
    pub endpoint: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts on a free 127.0.0.1 port in a background thread with its own tokio
    /// runtime, forwarding to `upstream` (moto, `http://127.0.0.1:PORT`).
    ///
    /// `time_scale` multiplies every duration in the profile (`1.0 / 60.0` makes a
    /// profile minute one real second); rates stay per real second, since the engine's
    /// call rate is real. `seed` drives every random choice, per call, so a run repeats.
    ///
    /// # Panics
    /// If `time_scale` is negative or not finite, or no loopback port, thread or
    /// runtime can be had (the caller is a test or a benchmark: nothing to recover).
    pub fn start(upstream: &str, profile: Profile, time_scale: f64, seed: u64) -> Proxy {
        assert!(
            time_scale.is_finite() && time_scale >= 0.0,
            "time_scale must be a finite, non-negative number, not {time_scale}"
        );
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port for the proxy");
        listener
            .set_nonblocking(true)
            .expect("make the proxy's listener non-blocking");
        let port = listener.local_addr().expect("the proxy listener's address").port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the proxy");
        let shared = Arc::new(Shared {
            upstream: authority(upstream),
            time_scale,
            seed,
            state: Mutex::new(State::new(profile)),
        });
        let (stop, stopped) = oneshot::channel();
        let served = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("stackup-proxy-{port}"))
            .spawn(move || runtime.block_on(accept(listener, served, stopped)))
            .expect("spawn the proxy thread");
        Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Calls seen per `service:Action` (`ec2:RunInstances`, `s3:PutObject`): every
    /// attempt, including those answered with an injected fault. Services are SigV4
    /// signing names (`elasticloadbalancing`, `elasticfilesystem`, `monitoring`, ...).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.shared.lock().counts.clone()
    }

    /// Injected faults per kind: `rate_limit` (a rule's token bucket was empty),
    /// `throttle` (`throttle_rate`), `5xx` (`error_rate`), `drop` (`drop_rate`) and
    /// `not_found` (a read of a resource created within `not_found_after_create_ms`).
    /// `rate_limit` and `throttle` answer the same throttling error on the wire.
    /// Causal rules (`[[after]]`, `[[requires]]`, `[[during]]`) count under their
    /// `name`, and engine versions the catalog refuses under `rds-engine-version`.
    pub fn injected(&self) -> BTreeMap<String, usize> {
        self.shared.lock().injected.clone()
    }

    /// Every rate-limit bucket a call has met so far, in rule order: what a run that
    /// stays within the limits could not do faster than `(taken - burst) / rate`.
    pub fn buckets(&self) -> Vec<BucketUse> {
        let state = self.shared.lock();
        let mut out: Vec<BucketUse> = state
            .buckets
            .iter()
            .map(|((rule, service), b)| BucketUse {
                rule: *rule,
                service: service.clone(),
                rate: b.rate,
                burst: b.burst,
                taken: b.taken,
                refused: b.refused,
            })
            .collect();
        out.sort_by(|a, b| (a.rule, &a.service).cmp(&(b.rule, &b.service)));
        out
    }

    /// Every call held for a latency so far, in the order they arrived.
    pub fn holds(&self) -> Vec<Hold> {
        self.shared.lock().holds.clone()
    }

    /// Every call a causal rule refused so far, in the order they arrived.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.shared.lock().refusals.clone()
    }

    /// Every lifecycle phase drawn so far, in the order they began: each create,
    /// delete or modification of an object with a `[[lifecycle]]` type, and each
    /// instance's health-check window. Its `started + duration` is when AWS would have
    /// finished, which is what a benchmark's critical path is made of.
    pub fn lifecycles(&self) -> Vec<Lifecycle> {
        self.shared
            .lock()
            .world
            .transitions
            .iter()
            .map(Lifecycle::from)
            .collect()
    }

    /// Swaps the rules at run time. Token buckets, the not-found windows of earlier
    /// creates and the triggers of causal rules start afresh; counts, injected totals
    /// and the lifecycles drawn carry on (a new profile with lifecycles goes on showing
    /// the transitions still in progress).
    pub fn set_profile(&self, profile: Profile) {
        let mut state = self.shared.lock();
        state.profile = Arc::new(profile);
        state.buckets.clear();
        state.fresh.clear();
        state.world.forget_events();
    }

    /// Makes the profile's rate limits refill `factor` times as fast (1 by default:
    /// rates are per real second). A benchmark that runs AWS's durations at a time scale
    /// *and* the engine's pauses at the same scale (so that its call rate is `1 /
    /// time_scale` times AWS's) passes `1 / time_scale` here, so that AWS's rate limits
    /// bind as they would on AWS rather than `1 / time_scale` times harder.
    pub fn set_rate_scale(&self, factor: f64) {
        let factor = if factor.is_finite() && factor > 0.0 {
            factor
        } else {
            1.0
        };
        self.shared.lock().rate_scale = factor;
    }
}

impl Drop for Proxy {
    /// Stops accepting, abandons requests in flight (their connections close), and
    /// waits for the thread to end.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `http://127.0.0.1:5000/` -> `127.0.0.1:5000`.
fn authority(upstream: &str) -> String {
    let rest = upstream
        .strip_prefix("http://")
        .or_else(|| upstream.strip_prefix("https://"))
        .unwrap_or(upstream);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// What the proxy thread and the handle share.
struct Shared {
    upstream: String,
    time_scale: f64,
    seed: u64,
    state: Mutex<State>,
}

struct State {
    profile: Arc<Profile>,
    counts: BTreeMap<String, usize>,
    injected: BTreeMap<String, usize>,
    /// Token buckets by (rule index, service): a rule's actions share one per service.
    buckets: HashMap<(usize, String), Bucket>,
    /// Resources created moments ago that reads must not see yet.
    fresh: Vec<Fresh>,
    /// Every call held for a latency, in the order they arrived.
    holds: Vec<Hold>,
    /// How many times as fast the rate limits refill (`Proxy::set_rate_scale`).
    rate_scale: f64,
    /// Every call a causal rule refused, in order.
    refusals: Vec<Refusal>,
    /// Lifecycles, relations and triggers, for profiles that reshape moto.
    world: World,
    /// RDS modifications waiting for the maintenance window (`deferred.rs`).
    deferred: deferred::Pending,
}

/// One call a causal rule (`[[after]]`, `[[requires]]`, `[[during]]`, the RDS catalog)
/// refused: AWS was not ready for it at that moment. A benchmark uses these to know how
/// long AWS itself kept an operation from finishing.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// The rule's name (`eni-linger`, ...).
    pub rule: String,
    /// SigV4 signing name.
    pub service: String,
    pub action: String,
    pub at: Instant,
}

/// One call the proxy held before forwarding it: what a benchmark needs to know how
/// long AWS itself took in a run, as opposed to the engine.
#[derive(Clone, Debug)]
pub struct Hold {
    /// SigV4 signing name (`ec2`, `rds`, ...).
    pub service: String,
    pub action: String,
    /// When the hold began.
    pub started: Instant,
    /// How long the call was held (the profile's draw, times the time scale).
    pub held: Duration,
}

impl State {
    fn new(profile: Profile) -> State {
        State {
            profile: Arc::new(profile),
            counts: BTreeMap::new(),
            injected: BTreeMap::new(),
            buckets: HashMap::new(),
            fresh: Vec::new(),
            holds: Vec::new(),
            rate_scale: 1.0,
            refusals: Vec::new(),
            world: World::default(),
            deferred: deferred::Pending::default(),
        }
    }

    /// Takes a token from the rule's bucket for the service; false when it is empty.
    fn take_token(&mut self, rule: usize, service: &str, rate: f64, burst: f64) -> bool {
        let now = Instant::now();
        let bucket = self.buckets.entry((rule, service.to_string())).or_insert(Bucket {
            tokens: burst,
            last: now,
            taken: 0,
            refused: 0,
            rate,
            burst,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        bucket.rate = rate;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.taken += 1;
            true
        } else {
            bucket.refused += 1;
            false
        }
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
    /// Calls that took a token, and calls refused for want of one.
    taken: usize,
    refused: usize,
    rate: f64,
    burst: f64,
}

/// How one rate-limit bucket (a rule's, for one service) was used so far.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketUse {
    /// The rule's index in the profile, and the service the bucket is kept for.
    pub rule: usize,
    pub service: String,
    /// Refill per real second (after `Proxy::set_rate_scale`) and capacity.
    pub rate: f64,
    pub burst: f64,
    /// Calls that took a token.
    pub taken: usize,
    /// Calls refused because the bucket was empty (answered as throttled).
    pub refused: usize,
}

/// What to do with one request, decided at once under the lock.
struct Plan {
    fault: Option<Fault>,
    latency: Duration,
    /// A create to follow for not-found: its spec and window.
    follow: Option<(&'static Spec, Duration)>,
    request_id: String,
    unavailable: bool,
    /// The profile, when it reshapes moto (lifecycles, causal rules, catalog): then
    /// responses are read and may be rewritten.
    reshape: Option<Arc<Profile>>,
    /// What the profile's lifecycles, causal rules and catalog decided before
    /// forwarding.
    pre: Option<Pre>,
}

enum Fault {
    Drop,
    RateLimit,
    Throttle,
    ServerError,
    NotFound {
        code: &'static str,
        status: u16,
        message: String,
    },
}

impl Fault {
    fn kind(&self) -> &'static str {
        match self {
            Fault::Drop => "drop",
            Fault::RateLimit => "rate_limit",
            Fault::Throttle => "throttle",
            Fault::ServerError => "5xx",
            Fault::NotFound { .. } => "not_found",
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave these counters inconsistent: keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn scaled(&self, ms: u64) -> Duration {
        Duration::from_secs_f64(ms as f64 / 1000.0 * self.time_scale)
    }

    /// Counts the call and decides its fate.
    fn plan(&self, call: &Call) -> Plan {
        let key = format!("{}:{}", call.service, call.action);
        let mut state = self.lock();
        let n = {
            let count = state.counts.entry(key.clone()).or_insert(0);
            *count += 1;
            *count - 1
        };
        // Every draw is made, in a fixed order, whatever the rules: adding one effect
        // to a profile then never reshuffles the fate of another.
        let mut rng = Rng::for_call(self.seed, &key, n);
        let (u_drop, u_throttle, u_error, u_latency, u_not_found) =
            (rng.unit(), rng.unit(), rng.unit(), rng.unit(), rng.unit());
        let unavailable = rng.unit() < 0.5;
        let request_id = rng.request_id();

        let profile = Arc::clone(&state.profile);
        let (service, action) = (call.service.as_str(), call.action.as_str());
        let chance = |p: Option<(usize, f64)>| p.map(|(_, p)| p).unwrap_or(0.0);

        let mut fault = None;
        if u_drop < chance(profile.first(service, action, |r| r.drop_rate)) {
            fault = Some(Fault::Drop);
        }
        if fault.is_none() {
            if let Some((rule, (rate, burst))) = profile.first(service, action, |r| r.rate) {
                let rate = rate * state.rate_scale;
                if !state.take_token(rule, service, rate, burst) {
                    fault = Some(Fault::RateLimit);
                }
            }
        }
        if fault.is_none() && u_throttle < chance(profile.first(service, action, |r| r.throttle_rate)) {
            fault = Some(Fault::Throttle);
        }
        if fault.is_none() && u_error < chance(profile.first(service, action, |r| r.error_rate)) {
            fault = Some(Fault::ServerError);
        }
        if fault.is_none() && notfound::is_read(action) && !call.ids.is_empty() {
            let now = Instant::now();
            state.fresh.retain(|f| f.until > now);
            if let Some(f) = state
                .fresh
                .iter()
                .find(|f| f.service == service && call.ids.contains(&f.id))
            {
                fault = Some(Fault::NotFound {
                    code: f.spec.code,
                    status: f.spec.status,
                    message: f.message(),
                });
            }
        }
        if let Some(f) = &fault {
            *state.injected.entry(f.kind().to_string()).or_insert(0) += 1;
        }
        let reshape = profile.reshapes().then(|| Arc::clone(&profile));
        let pre = match (&fault, &reshape) {
            (None, Some(p)) => state.world.pre(p, call, Instant::now()),
            _ => None,
        };
        if let Some(Pre::Fault { name, .. }) = &pre {
            *state.injected.entry(name.clone()).or_insert(0) += 1;
            state.refusals.push(Refusal {
                rule: name.clone(),
                service: call.service.clone(),
                action: call.action.clone(),
                at: Instant::now(),
            });
        }

        let latency = profile
            .first(service, action, |r| r.latency_ms)
            .map(|(_, (lo, hi))| lo + ((hi - lo) as f64 * u_latency).round() as u64)
            .map(|ms| self.scaled(ms))
            .unwrap_or_default();
        let follow = notfound::spec_for(service, action).and_then(|spec| {
            profile
                .first(service, action, |r| r.not_found)
                .filter(|(_, (_, share))| u_not_found < *share)
                .map(|(_, (ms, _))| (spec, self.scaled(ms)))
        });
        Plan {
            fault,
            latency,
            follow,
            request_id,
            unavailable,
            reshape,
            pre,
        }
    }

    /// Remembers what a create made, hidden from reads for `window` from now.
    fn remember(&self, service: &str, spec: &'static Spec, ids: Vec<String>, window: Duration) {
        let until = Instant::now() + window;
        let mut state = self.lock();
        state.fresh.extend(ids.into_iter().map(|id| Fresh {
            service: service.to_string(),
            id,
            spec,
            until,
        }));
    }

    /// Sends the request to the upstream on a connection of its own.
    async fn forward(&self, mut parts: Parts, body: Body) -> Result<Response<Incoming>, String> {
        for name in HOP_BY_HOP {
            parts.headers.remove(*name);
        }
        parts
            .headers
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        let stream = TcpStream::connect(&self.upstream)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.upstream))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {}: {e}", self.upstream))?;
        // The connection task drives the exchange and ends with the response body.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        sender
            .send_request(Request::from_parts(parts, body))
            .await
            .map_err(|e| format!("request to {}: {e}", self.upstream))
    }
}

/// Headers that belong to one connection, not to the request: the proxy makes its own
/// connection upstream. `expect` goes too: the proxy has the body already, or streams
/// it at once.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// The error a request handler returns to make hyper close the connection without
/// writing a response: how a dropped connection is injected.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

/// Accepts connections until told to stop.
async fn accept(listener: std::net::TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, Arc::clone(&shared)));
                }
                // Out of descriptors or similar: pause rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// Serves one connection: one request, then close.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| handle(Arc::clone(&shared), request));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// One request: classify, decide, then answer a fault or hold and forward.
async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let (parts, body) = request.into_parts();
    if parts.uri.path().starts_with("/moto-api") {
        return Ok(forward_or_502(&shared, parts, body.boxed()).await);
    }
    let service = request::service_of(&parts);
    // S3 bodies are objects: they stream through. Every other service's request is a
    // small document, read whole to find its action and the ids it names.
    let (body, buffered) = if service == "s3" {
        (body.boxed(), None)
    } else {
        let bytes = body.collect().await.map_err(|_| Dropped)?.to_bytes();
        (full(bytes.clone()), Some(bytes))
    };
    let call = request::classify(&parts, service, buffered.as_deref());
    let plan = shared.plan(&call);

    if let Some(fault) = plan.fault {
        // Read what is left of the request first, so the client sees the fault (or
        // the closed connection), not a reset while it is still sending.
        let _ = body.collect().await;
        return match fault {
            Fault::Drop => Err(Dropped),
            Fault::RateLimit | Fault::Throttle => Ok(faults::throttle(&call, &plan.request_id)),
            Fault::ServerError => Ok(faults::server_error(&call, plan.unavailable, &plan.request_id)),
            Fault::NotFound { code, status, message } => {
                Ok(faults::error(&call, status, code, &message, &plan.request_id))
            }
        };
    }

    let mut tag_subnet_groups = false;
    match plan.pre {
        Some(Pre::Fault {
            code, status, message, ..
        }) => {
            let _ = body.collect().await;
            return Ok(faults::error(&call, status, &code, &message, &plan.request_id));
        }
        Some(Pre::Answer {
            body: answer,
            content_type,
        }) => {
            let _ = body.collect().await;
            return Ok(faults::answer(200, content_type, answer, &plan.request_id));
        }
        Some(Pre::FixSubnetGroup) => {
            let bytes = buffered.unwrap_or_default();
            return Ok(fixes::modify_db_subnet_group(&shared, &parts, &call, bytes).await);
        }
        Some(Pre::TagSubnetGroups) => tag_subnet_groups = true,
        Some(Pre::CheckRouteTableAssociation) => {
            let bytes = buffered.unwrap_or_default();
            return Ok(fixes::associate_route_table(&shared, &parts, &call, bytes, &plan.request_id).await);
        }
        None => {}
    }

    if !plan.latency.is_zero() {
        shared.lock().holds.push(Hold {
            service: call.service.clone(),
            action: call.action.clone(),
            started: Instant::now(),
            held: plan.latency,
        });
        tokio::time::sleep(plan.latency).await;
    }
    if tag_subnet_groups {
        return Ok(tagging::get_resources(&shared, &parts, buffered.unwrap_or_default()).await);
    }
    if let Some(profile) = plan.reshape {
        return reshaped(&shared, &profile, &call, plan.follow, parts, body, buffered).await;
    }
    let Some((spec, window)) = plan.follow else {
        return Ok(forward_or_502(&shared, parts, body).await);
    };
    // A create to follow: its response is read whole to find the ids it made.
    let response = match shared.forward(parts, body).await {
        Ok(r) => r,
        Err(e) => return Ok(bad_gateway(&e)),
    };
    let (head, body) = response.into_parts();
    let bytes = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    if head.status.is_success() {
        let ids = notfound::created_ids(spec, &call, &bytes);
        shared.remember(&call.service, spec, ids, window);
    }
    Ok(Response::from_parts(head, full(bytes)))
}

/// Forwards a call under a profile that reshapes moto: the response is read whole
/// (S3's only for its status), the world learns from it, and reads of objects in
/// transition are rewritten. With `deferred_db_modifications`, a ModifyDBInstance may
/// be sent without the settings that wait, and answers show the pending ones.
async fn reshaped(
    shared: &Shared,
    profile: &Profile,
    call: &Call,
    follow: Option<(&'static Spec, Duration)>,
    mut parts: Parts,
    mut body: Body,
    buffered: Option<Bytes>,
) -> Result<Response<Body>, Dropped> {
    let deferring = profile.workarounds.deferred_db_modifications && call.service == "rds";
    let region = deferred::region_of(&parts);
    let mut modify = None;
    if let (true, "ModifyDBInstance", Some(sent)) = (deferring, call.action.as_str(), &buffered) {
        match deferred::before_modify(shared, &mut parts, sent).await {
            Ok(Some((plan, bytes))) => {
                modify = Some(plan);
                body = full(bytes);
            }
            Ok(None) => {}
            Err(answer) => return Ok(answer),
        }
    }
    let response = match shared.forward(parts, body).await {
        Ok(r) => r,
        Err(e) => return Ok(bad_gateway(&e)),
    };
    let (mut head, incoming) = response.into_parts();
    let status = head.status.as_u16();
    if call.service == "s3" {
        // Objects stream through; the status is all the world needs.
        let _ = shared.lock().world.post(
            profile,
            call,
            status,
            "",
            Instant::now(),
            shared.seed,
            shared.time_scale,
        );
        if head.status.is_success() {
            if let Some((spec, window)) = follow {
                let ids = notfound::created_ids(spec, call, b"");
                shared.remember(&call.service, spec, ids, window);
            }
        }
        return Ok(Response::from_parts(head, incoming.boxed()));
    }
    let bytes = incoming.collect().await.map_err(|_| Dropped)?.to_bytes();
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    let injected = if deferring {
        deferred::after(shared, &region, call, status, &text, modify.as_ref())
    } else {
        None
    };
    let changed = injected.is_some();
    if let Some(new) = injected {
        text = new;
    }
    if head.status.is_success() {
        if let Some((spec, window)) = follow {
            let ids = notfound::created_ids(spec, call, &bytes);
            shared.remember(&call.service, spec, ids, window);
        }
    }
    let view = shared.lock().world.post(
        profile,
        call,
        status,
        &text,
        Instant::now(),
        shared.seed,
        shared.time_scale,
    );
    let new = match lifecycle::rewrite(call, status, &text, &view) {
        Some(new) => new,
        None if changed => lifecycle::Rewritten {
            status,
            body: text,
            content_type: None,
        },
        None => return Ok(Response::from_parts(head, full(bytes))),
    };
    head.status = StatusCode::from_u16(new.status).unwrap_or(head.status);
    let headers = &mut head.headers;
    headers.remove(http::header::CONTENT_LENGTH);
    headers.remove("x-amzn-errortype");
    if let Some(content_type) = new.content_type {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if headers.contains_key("x-amz-crc32") {
        // DynamoDB's checksum of the body, which SDKs may verify.
        if let Ok(v) = HeaderValue::from_str(&faults::crc32(new.body.as_bytes()).to_string()) {
            headers.insert("x-amz-crc32", v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&new.body.len().to_string()) {
        headers.insert(http::header::CONTENT_LENGTH, v);
    }
    Ok(Response::from_parts(head, full(new.body)))
}

async fn forward_or_502(shared: &Shared, parts: Parts, body: Body) -> Response<Body> {
    match shared.forward(parts, body).await {
        Ok(response) => response.map(BodyExt::boxed),
        Err(e) => bad_gateway(&e),
    }
}

/// The upstream could not be reached: not an injected fault, so said plainly.
pub(crate) fn bad_gateway(reason: &str) -> Response<Body> {
    let mut response = Response::new(full(format!("stackup-proxy: {reason}\n")));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

#[cfg(test)]
mod tests;
