//! An in-process provider for engine tests: fast, deterministic, and observable. Every
//! call is logged in order; failures and delays are injected with closures, in the
//! manner of Pulumi's lifecycle tests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use stackup_model::{Properties, TypeToken, Urn, Value};

use crate::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FindRequest, ListRequest,
    ListResponse, LiveResource, Provider, ProviderError, ReadRequest, ReadResponse, Schema, UpdateRequest,
    UpdateResponse,
};

/// Which provider method a logged call was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Read,
    Update,
    Delete,
    /// A lookup of what an interrupted or failed create made.
    Find,
    /// A listing of the stack's objects of one type (logged under the type's URN
    /// `<stack>::<type>::*`).
    List,
}

/// One logged call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub op: Op,
    pub urn: Urn,
    pub id: Option<String>,
    pub inputs: Properties,
}

/// One object in the fake cloud.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeObject {
    pub urn: Urn,
    pub ty: TypeToken,
    pub inputs: Properties,
}

type FailHook = Box<dyn Fn(&Call) -> Option<ProviderError> + Send + Sync>;
type DelayHook = Box<dyn Fn(&Call) -> Option<Duration> + Send + Sync>;
type PartialHook = Box<dyn Fn(&Call) -> Option<(Vec<String>, ProviderError)> + Send + Sync>;
type HideHook = Box<dyn Fn(&Call) -> bool + Send + Sync>;

#[derive(Default)]
struct CloudInner {
    objects: BTreeMap<String, FakeObject>,
    calls: Vec<Call>,
    next_id: u64,
}

/// The world the fake providers share.
#[derive(Default)]
pub struct FakeCloud {
    inner: Mutex<CloudInner>,
    fail: Mutex<Vec<FailHook>>,
    delay: Mutex<Vec<DelayHook>>,
    partial: Mutex<Vec<PartialHook>>,
    hide: Mutex<Vec<HideHook>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl FakeCloud {
    pub fn new() -> Arc<FakeCloud> {
        Arc::new(FakeCloud::default())
    }

    fn lock(&self) -> MutexGuard<'_, CloudInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every call for which `hook` returns an error fail with it.
    pub fn fail_when(&self, hook: impl Fn(&Call) -> Option<ProviderError> + Send + Sync + 'static) {
        self.fail.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(hook));
    }

    /// Makes every read for which `hook` returns true miss the object, as an eventually
    /// consistent read right after a create does.
    pub fn hide_when(&self, hook: impl Fn(&Call) -> bool + Send + Sync + 'static) {
        self.hide.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(hook));
    }

    /// Delays every call for which `hook` returns a duration.
    pub fn delay_when(&self, hook: impl Fn(&Call) -> Option<Duration> + Send + Sync + 'static) {
        self.delay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(hook));
    }

    /// Makes every create for which `hook` returns `(keys, error)` make its object
    /// without those input keys, then fail with the error: a create whose follow-up
    /// calls failed after the object was made, or whose response was lost. An error
    /// marked with [`ProviderError::created`] (any id) is answered naming the object
    /// made: a create whose wait for readiness failed.
    pub fn create_partially_when(
        &self,
        hook: impl Fn(&Call) -> Option<(Vec<String>, ProviderError)> + Send + Sync + 'static,
    ) {
        self.partial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(hook));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Mutating calls only, as `(op, urn name)`, in the order they started.
    pub fn mutations(&self) -> Vec<(Op, String)> {
        self.calls()
            .into_iter()
            .filter(|c| !matches!(c.op, Op::Read | Op::Find | Op::List))
            .map(|c| (c.op, c.urn.name().to_string()))
            .collect()
    }

    pub fn objects(&self) -> BTreeMap<String, FakeObject> {
        self.lock().objects.clone()
    }

    /// Changes an object behind the engine's back, as a person in the console would.
    pub fn tamper(&self, id: &str, key: &str, value: Value) {
        if let Some(o) = self.lock().objects.get_mut(id) {
            o.inputs.insert(key.into(), value);
        }
    }

    pub fn remove_object(&self, id: &str) {
        self.lock().objects.remove(id);
    }

    /// The largest number of calls that were in progress at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    async fn enter(&self, call: Call) -> Result<InFlight<'_>, ProviderError> {
        let failure = {
            let hooks = self.fail.lock().unwrap_or_else(|e| e.into_inner());
            hooks.iter().find_map(|h| h(&call))
        };
        let delay = {
            let hooks = self.delay.lock().unwrap_or_else(|e| e.into_inner());
            hooks.iter().find_map(|h| h(&call))
        };
        if let Some(d) = delay {
            crate::progress::report(format!(
                "fake {:?} of {} held for {} ms",
                call.op,
                call.urn.name(),
                d.as_millis()
            ));
        }
        self.lock().calls.push(call);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(self);
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        } else {
            tokio::task::yield_now().await;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(guard),
        }
    }
}

struct InFlight<'a>(&'a FakeCloud);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A fake provider for one type. Outputs are the inputs plus `id` and `arn`.
pub struct FakeProvider {
    schema: Schema,
    cloud: Arc<FakeCloud>,
    /// Lists the stack's objects, and that listing serves refresh.
    lists: bool,
}

impl FakeProvider {
    pub fn new(cloud: Arc<FakeCloud>, ty: &'static str, replace_on_change: &'static [&'static str]) -> FakeProvider {
        FakeProvider {
            schema: Schema::new(ty, replace_on_change),
            cloud,
            lists: false,
        }
    }

    /// A provider that lists the stack's objects (those whose URN names the stack),
    /// with a listing that serves refresh ([`Provider::list_reads`]).
    pub fn listing(mut self) -> FakeProvider {
        self.lists = true;
        self
    }

    fn hidden(&self, call: &Call) -> bool {
        self.cloud
            .hide
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|h| h(call))
    }

    pub fn delete_before_replace(mut self) -> FakeProvider {
        self.schema.delete_before_replace = true;
        self
    }

    fn outputs(id: &str, inputs: &Properties) -> Properties {
        let mut out = inputs.clone();
        out.insert("id".into(), Value::String(id.to_string()));
        out.insert("arn".into(), Value::String(format!("arn:fake:{id}")));
        out
    }
}

#[async_trait]
impl Provider for FakeProvider {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn check(&self, req: CheckRequest<'_>) -> CheckResponse {
        let failures = req
            .inputs
            .iter()
            .filter(|(_, v)| v.as_str() == Some("invalid"))
            .map(|(k, _)| crate::CheckFailure {
                property: k.to_string(),
                reason: "the fake provider refuses the value \"invalid\"".into(),
            })
            .collect();
        CheckResponse {
            inputs: req.inputs,
            failures,
        }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let call = Call {
            op: Op::Create,
            urn: req.urn.clone(),
            id: None,
            inputs: req.inputs.clone(),
        };
        let partial = {
            let hooks = self.cloud.partial.lock().unwrap_or_else(|e| e.into_inner());
            hooks.iter().find_map(|h| h(&call))
        };
        let _guard = self.cloud.enter(call).await?;
        if req
            .inputs
            .values()
            .any(|v| v.contains_unknown() || !v.references().is_empty())
        {
            return Err(ProviderError::invalid("create received an unresolved input"));
        }
        let mut inner = self.cloud.lock();
        inner.next_id += 1;
        let id = format!("{}-{}", req.urn.name(), inner.next_id);
        let mut inputs = req.inputs.clone();
        if let Some((keys, _)) = &partial {
            inputs.retain(|k, _| !keys.contains(&k.to_string()));
        }
        inner.objects.insert(
            id.clone(),
            FakeObject {
                urn: req.urn.clone(),
                ty: self.schema.ty.clone(),
                inputs,
            },
        );
        if let Some((_, e)) = partial {
            // An error marked as having created an object (a wait that failed after
            // the create) names the object this create made.
            return Err(match e.created {
                Some(_) => e.created(id),
                None => e,
            });
        }
        Ok(CreateResponse {
            outputs: Self::outputs(&id, &req.inputs),
            id,
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<ReadResponse, ProviderError> {
        let mut found = Vec::new();
        for t in req.targets {
            let call = Call {
                op: Op::Read,
                urn: t.urn.clone(),
                id: Some(t.id.clone()),
                inputs: Properties::new(),
            };
            let hidden = self.hidden(&call);
            let _guard = self.cloud.enter(call).await?;
            if hidden {
                continue;
            }
            if let Some(o) = self.cloud.lock().objects.get(&t.id) {
                found.push(LiveResource {
                    urn: t.urn.clone(),
                    id: t.id.clone(),
                    inputs: o.inputs.clone(),
                    outputs: Self::outputs(&t.id, &o.inputs),
                });
            }
        }
        Ok(ReadResponse { found })
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let call = Call {
            op: Op::Update,
            urn: req.urn.clone(),
            id: Some(req.id.clone()),
            inputs: req.new_inputs.clone(),
        };
        let _guard = self.cloud.enter(call).await?;
        let mut inner = self.cloud.lock();
        let obj = inner
            .objects
            .get_mut(&req.id)
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("{} not found", req.id)))?;
        obj.inputs = req.new_inputs.clone();
        Ok(UpdateResponse {
            outputs: Self::outputs(&req.id, &req.new_inputs),
            new_id: None,
        })
    }

    async fn delete(&self, req: DeleteRequest) -> Result<(), ProviderError> {
        let call = Call {
            op: Op::Delete,
            urn: req.urn.clone(),
            id: Some(req.id.clone()),
            inputs: req.inputs.clone(),
        };
        let _guard = self.cloud.enter(call).await?;
        self.cloud.lock().objects.remove(&req.id);
        Ok(())
    }

    /// Every object of this type whose URN names the stack, but those a hide hook hides
    /// from the listing (asked with `Op::List` and the object's URN and id).
    async fn list(&self, req: ListRequest) -> Result<Option<ListResponse>, ProviderError> {
        if !self.lists {
            return Ok(None);
        }
        let call = Call {
            op: Op::List,
            urn: Urn::new(&req.stack, &self.schema.ty, "*"),
            id: None,
            inputs: Properties::new(),
        };
        let _guard = self.cloud.enter(call).await?;
        let objects: Vec<(String, FakeObject)> = self
            .cloud
            .lock()
            .objects
            .iter()
            .filter(|(_, o)| o.ty == self.schema.ty && o.urn.stack() == req.stack)
            .map(|(id, o)| (id.clone(), o.clone()))
            .collect();
        let found = objects
            .into_iter()
            .filter(|(id, o)| {
                !self.hidden(&Call {
                    op: Op::List,
                    urn: o.urn.clone(),
                    id: Some(id.clone()),
                    inputs: Properties::new(),
                })
            })
            .map(|(id, o)| LiveResource {
                urn: req.urn_of(&id, || Some(o.urn.clone())).unwrap_or(o.urn),
                outputs: Self::outputs(&id, &o.inputs),
                inputs: o.inputs,
                id,
            })
            .collect();
        Ok(Some(ListResponse { found }))
    }

    fn list_reads(&self) -> bool {
        self.lists
    }

    async fn find(&self, req: FindRequest) -> Result<Option<LiveResource>, ProviderError> {
        let call = Call {
            op: Op::Find,
            urn: req.urn.clone(),
            id: None,
            inputs: req.inputs.clone(),
        };
        let _guard = self.cloud.enter(call).await?;
        let inner = self.cloud.lock();
        Ok(inner
            .objects
            .iter()
            .find(|(_, o)| o.urn == req.urn)
            .map(|(id, o)| LiveResource {
                urn: req.urn.clone(),
                id: id.clone(),
                inputs: o.inputs.clone(),
                outputs: Self::outputs(id, &o.inputs),
            }))
    }
}
