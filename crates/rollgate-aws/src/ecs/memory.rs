//! An in-memory ECS for tests of orchestration: services and task-definition revisions held
//! in memory, behind the same capability traits as [`super::Ecs`], with faults a test places on
//! the next call of an operation. A lost answer, a retry or a spent budget is then a test of
//! milliseconds, next to the emulator's tests of the real SDK over HTTP.
//!
//! It keeps ECS's rules that rollgate's decisions rest on: revision numbers grow by one per
//! family and are never reused; DescribeTaskDefinition by family answers the newest ACTIVE
//! revision; a deregistered revision is INACTIVE and still described; UpdateService refuses
//! an INACTIVE revision (ClientException "TaskDefinition is inactive"). Deployments, tasks and
//! ECS's history are not modelled: the emulator has them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_ecs::types::{TaskDefinition, TaskDefinitionStatus};
use rollgate_core::service::{ContainerImage, DeploymentController, ServiceStatus, ServiceView, TaskDefSummary};
use rollgate_core::{ErrorClass, ServiceArn, TaskDefArn};

use super::{ResourceTagger, ServiceDirectory, ServiceUpdater, TaskDefSnapshot, TaskDefinitions};
use crate::AwsError;

/// What happens to the next call of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails (a 500: `Retryable`) and changes nothing.
    Fail,
    /// The call takes effect, but its answer is lost: the caller gets the same error.
    LoseAnswer,
}

#[derive(Debug, Clone)]
struct Revision {
    summary: TaskDefSummary,
    active: bool,
}

#[derive(Debug, Default)]
struct State {
    services: Vec<ServiceView>,
    /// Family to its revisions, by number (1, 2, ...).
    revisions: BTreeMap<String, Vec<Revision>>,
    /// (operation, calls of it to let pass first, fault).
    faults: Vec<(&'static str, usize, Fault)>,
    calls: Vec<&'static str>,
}

impl State {
    /// Revision `arn`, ACTIVE or not (`None`: never registered).
    fn revision(&self, arn: &TaskDefArn) -> Option<&Revision> {
        let r = arn.revision();
        self.revisions.get(&r.family)?.get(index(r.number)?)
    }

    fn revision_mut(&mut self, arn: &TaskDefArn) -> Option<&mut Revision> {
        let r = arn.revision();
        self.revisions.get_mut(&r.family)?.get_mut(index(r.number)?)
    }
}

/// The in-memory ECS. All methods are synchronous under one lock; the trait methods are
/// `async` only to fit the traits.
#[derive(Debug, Default)]
pub struct MemoryEcs {
    state: Mutex<State>,
}

fn failure(operation: &'static str, code: &str, message: &str, class: ErrorClass) -> AwsError {
    AwsError::Api { operation, code: code.into(), message: message.into(), class }
}

impl MemoryEcs {
    /// An empty ECS.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers revision 1 (or the next) of `family`, ACTIVE, in `region` of `account`, with
    /// `containers` (name, image) and `tags`; returns its ARN. Not a call the code under test makes.
    pub fn register(
        &self,
        account: &str,
        region: &str,
        family: &str,
        containers: &[(&str, &str)],
        tags: &[(&str, &str)],
    ) -> TaskDefArn {
        let mut state = self.state();
        let revisions = state.revisions.entry(family.to_owned()).or_default();
        let arn = TaskDefArn::parse(&format!(
            "arn:aws:ecs:{region}:{account}:task-definition/{family}:{}",
            revisions.len() + 1
        ))
        .expect("a task-definition ARN");
        revisions.push(Revision {
            summary: TaskDefSummary {
                arn: arn.clone(),
                containers: containers
                    .iter()
                    .map(|(name, image)| ContainerImage { name: (*name).to_owned(), image: (*image).to_owned() })
                    .collect(),
                tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                platform: None,
                fargate_platform: None,
            },
            active: true,
        });
        arn
    }

    /// Adds an ACTIVE, ECS-controlled (rolling) service running `revision`, with `tags`.
    pub fn add_service(&self, arn: &ServiceArn, revision: &TaskDefArn, tags: &[(&str, &str)]) {
        self.state().services.push(ServiceView {
            arn: arn.clone(),
            status: ServiceStatus::Active,
            task_definition: Some(revision.clone()),
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            deployments: vec![],
            deployment_controller: DeploymentController::Ecs,
            fargate: false,
            current_service_deployment: None,
        });
    }

    /// Places `fault` on the next call of `operation` (e.g. `"RegisterTaskDefinition"`);
    /// faults on one operation apply in the order placed.
    pub fn fault(&self, operation: &'static str, fault: Fault) {
        self.fault_nth(operation, 1, fault);
    }

    /// Places `fault` on the `nth` call of `operation` from now (1: the next).
    pub fn fault_nth(&self, operation: &'static str, nth: usize, fault: Fault) {
        self.state().faults.push((operation, nth.saturating_sub(1), fault));
    }

    /// Every call made so far, in order, by operation name.
    pub fn calls(&self) -> Vec<&'static str> {
        self.state().calls.clone()
    }

    /// The revision `service` runs.
    pub fn live(&self, service: &ServiceArn) -> Option<TaskDefArn> {
        self.state().services.iter().find(|s| &s.arn == service).and_then(|s| s.task_definition.clone())
    }

    /// Every revision of `family`, oldest first: its ARN, whether it is ACTIVE, and its tags.
    pub fn revisions(&self, family: &str) -> Vec<(TaskDefArn, bool, rollgate_core::Tags)> {
        self.state()
            .revisions
            .get(family)
            .map(|revs| revs.iter().map(|r| (r.summary.arn.clone(), r.active, r.summary.tags.clone())).collect())
            .unwrap_or_default()
    }

    /// Records the call and takes the fault placed on it, if any.
    fn call(&self, operation: &'static str) -> Option<Fault> {
        let mut state = self.state();
        state.calls.push(operation);
        let at = state.faults.iter().position(|(op, ..)| *op == operation)?;
        if state.faults[at].1 > 0 {
            state.faults[at].1 -= 1;
            return None;
        }
        Some(state.faults.remove(at).2)
    }

    fn snapshot(revision: &Revision) -> TaskDefSnapshot {
        let status = if revision.active { TaskDefinitionStatus::Active } else { TaskDefinitionStatus::Inactive };
        TaskDefSnapshot {
            summary: revision.summary.clone(),
            definition: TaskDefinition::builder()
                .task_definition_arn(revision.summary.arn.as_str())
                .status(status)
                .build(),
        }
    }
}

/// The index over memory is never stale: every service and revision, filtered as
/// GetResources filters (filters ANDed, values ORed, no values: any value).
impl crate::index::ResourceIndex for MemoryEcs {
    async fn resources(
        &self,
        query: &rollgate_core::index::IndexQuery,
    ) -> Result<Vec<rollgate_core::index::Indexed>, AwsError> {
        use rollgate_core::index::{Indexed, IndexedType};
        let fault = self.call("GetResources");
        with_fault("GetResources", fault, || {
            let state = self.state();
            let matches = |tags: &rollgate_core::Tags| {
                query
                    .filters
                    .iter()
                    .all(|f| tags.get(&f.key).is_some_and(|v| f.values.is_empty() || f.values.iter().any(|w| w == v)))
            };
            let found: Vec<Indexed> = match query.resource_type {
                IndexedType::Service => state
                    .services
                    .iter()
                    .filter(|s| matches(&s.tags))
                    .map(|s| Indexed { arn: s.arn.to_string(), tags: s.tags.clone() })
                    .collect(),
                IndexedType::TaskDefinition => state
                    .revisions
                    .values()
                    .flatten()
                    .filter(|r| matches(&r.summary.tags))
                    .map(|r| Indexed { arn: r.summary.arn.to_string(), tags: r.summary.tags.clone() })
                    .collect(),
            };
            Ok(found)
        })
    }
}

/// Where revision `number` sits in its family's list (revisions count from 1).
fn index(number: u32) -> Option<usize> {
    usize::try_from(number).ok()?.checked_sub(1)
}

/// Runs `change` unless the fault says the call fails; with a lost answer, runs it and
/// answers the error.
fn with_fault<T>(
    operation: &'static str,
    fault: Option<Fault>,
    change: impl FnOnce() -> Result<T, AwsError>,
) -> Result<T, AwsError> {
    let lost = failure(operation, "InternalFailure", "the answer was lost", ErrorClass::Retryable);
    match fault {
        None => change(),
        Some(Fault::Fail) => Err(failure(operation, "InternalFailure", "injected", ErrorClass::Retryable)),
        Some(Fault::LoseAnswer) => change().and(Err(lost)),
    }
}

impl ServiceDirectory for MemoryEcs {
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        let fault = self.call("ListServices");
        with_fault("ListServices", fault, || {
            Ok(self
                .state()
                .services
                .iter()
                .filter(|s| s.arn.cluster_name() == cluster)
                .map(|s| s.arn.to_string())
                .collect())
        })
    }

    async fn describe_services(&self, _cluster: &str, services: &[String]) -> Result<Vec<ServiceView>, AwsError> {
        let fault = self.call("DescribeServices");
        with_fault("DescribeServices", fault, || {
            Ok(self.state().services.iter().filter(|s| services.contains(&s.arn.to_string())).cloned().collect())
        })
    }
}

impl TaskDefinitions for MemoryEcs {
    async fn describe_task_definition(&self, arn: &TaskDefArn) -> Result<TaskDefSnapshot, AwsError> {
        let fault = self.call("DescribeTaskDefinition");
        with_fault("DescribeTaskDefinition", fault, || {
            let state = self.state();
            state.revision(arn).map(Self::snapshot).ok_or_else(|| {
                failure(
                    "DescribeTaskDefinition",
                    "ClientException",
                    "Unable to describe task definition.",
                    ErrorClass::NonRetryable,
                )
            })
        })
    }

    async fn describe_latest(&self, family: &str) -> Result<TaskDefSnapshot, AwsError> {
        let fault = self.call("DescribeTaskDefinition");
        with_fault("DescribeTaskDefinition", fault, || {
            let state = self.state();
            let newest = state.revisions.get(family).and_then(|revs| revs.iter().rev().find(|r| r.active));
            newest.map(Self::snapshot).ok_or_else(|| {
                failure(
                    "DescribeTaskDefinition",
                    "ClientException",
                    "Unable to describe task definition.",
                    ErrorClass::NonRetryable,
                )
            })
        })
    }

    async fn deregister(&self, arn: &TaskDefArn) -> Result<(), AwsError> {
        let fault = self.call("DeregisterTaskDefinition");
        with_fault("DeregisterTaskDefinition", fault, || {
            if let Some(r) = self.state().revision_mut(arn) {
                r.active = false;
            }
            Ok(())
        })
    }

    async fn register_copy(
        &self,
        base: &TaskDefSnapshot,
        images: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<TaskDefArn, AwsError> {
        let fault = self.call("RegisterTaskDefinition");
        with_fault("RegisterTaskDefinition", fault, || {
            let family = base.summary.arn.revision().family;
            let mut state = self.state();
            let revisions = state.revisions.entry(family).or_default();
            let arn = base.summary.arn.with_number(u32::try_from(revisions.len()).unwrap_or(u32::MAX) + 1);
            let containers = base
                .summary
                .containers
                .iter()
                .map(|c| ContainerImage {
                    name: c.name.clone(),
                    image: images
                        .iter()
                        .find(|(n, _)| *n == c.name)
                        .map_or_else(|| c.image.clone(), |(_, i)| i.clone()),
                })
                .collect();
            let summary = TaskDefSummary {
                arn: arn.clone(),
                containers,
                tags: tags.iter().cloned().collect(),
                ..base.summary.clone()
            };
            revisions.push(Revision { summary, active: true });
            Ok(arn)
        })
    }
}

impl ServiceUpdater for MemoryEcs {
    async fn update_service(&self, service: &ServiceArn, task_definition: &TaskDefArn) -> Result<(), AwsError> {
        let fault = self.call("UpdateService");
        with_fault("UpdateService", fault, || {
            let mut state = self.state();
            let active = state.revision(task_definition).is_some_and(|r| r.active);
            if !active {
                return Err(failure(
                    "UpdateService",
                    "ClientException",
                    "TaskDefinition is inactive",
                    ErrorClass::NonRetryable,
                ));
            }
            let found = state.services.iter_mut().find(|s| &s.arn == service).ok_or_else(|| {
                failure("UpdateService", "ServiceNotFoundException", "Service not found.", ErrorClass::NonRetryable)
            })?;
            found.task_definition = Some(task_definition.clone());
            Ok(())
        })
    }
}

impl ResourceTagger for MemoryEcs {
    async fn tag_resource(&self, arn: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        if tags.is_empty() {
            return Ok(());
        }
        let fault = self.call("TagResource");
        with_fault("TagResource", fault, || {
            let mut state = self.state();
            if let Some(s) = state.services.iter_mut().find(|s| s.arn.as_str() == arn) {
                s.tags.extend(tags.iter().cloned());
            } else if let Some(r) = TaskDefArn::parse(arn).ok().and_then(|td| state.revision_mut(&td)) {
                r.summary.tags.extend(tags.iter().cloned());
            }
            Ok(())
        })
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        if keys.is_empty() {
            return Ok(());
        }
        let fault = self.call("UntagResource");
        with_fault("UntagResource", fault, || {
            let mut state = self.state();
            if let Some(s) = state.services.iter_mut().find(|s| s.arn.as_str() == arn) {
                s.tags.retain(|k, _| !keys.contains(k));
            } else if let Some(r) = TaskDefArn::parse(arn).ok().and_then(|td| state.revision_mut(&td)) {
                r.summary.tags.retain(|k, _| !keys.contains(k));
            }
            Ok(())
        })
    }
}
