//! Carrying out a verdict's plan: the one place the ledger's writes happen, for the health
//! gate and for `rollgate rollback` alike.

use rollgate_core::gate::GatePlan;
use rollgate_core::{ServiceArn, TaskDefArn};

use crate::AwsError;
use crate::ecs::{ResourceTagger, ServiceUpdater};
use crate::events::Notifier;

/// Rollback first: if a later step fails, a retry finds the service already moved and
/// records the failure without a second rollback. Then the service's tags (idempotent: the
/// failed digest, the high-water mark), the notification, and the revision's state last: a
/// revision is final only once everything else is written, so a retry redoes what is missing.
pub async fn carry_out<E, N>(
    ecs: &E,
    notifier: &N,
    service: &ServiceArn,
    revision: &TaskDefArn,
    plan: GatePlan,
) -> Result<(), AwsError>
where
    E: ServiceUpdater + ResourceTagger,
    N: Notifier,
{
    if let Some(to) = &plan.roll_back_to {
        ecs.update_service(service, to).await?;
    }
    ecs.tag_resource(service.as_str(), &plan.tag_service).await?;
    if let Some(n) = plan.notification {
        notifier.publish(&[n.outgoing()]).await?;
    }
    ecs.tag_resource(revision.as_str(), &plan.tag_revision).await?;
    Ok(())
}
