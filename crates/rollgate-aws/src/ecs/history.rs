//! ECS's service-deployment history: ListServiceDeployments, DescribeServiceDeployments and
//! DescribeServiceRevisions ([`ServiceHistory`]).

use super::*;

/// DescribeServiceRevisions takes at most 20 service revisions per call.
pub const DESCRIBE_SERVICE_REVISIONS_BATCH: usize = 20;
/// DescribeServiceDeployments takes at most 20 service deployments per call.
pub const DESCRIBE_SERVICE_DEPLOYMENTS_BATCH: usize = 20;
/// ListServiceDeployments pages (its `maxResults`: 1 to 100).
const LIST_SERVICE_DEPLOYMENTS_PAGE: i32 = 100;
/// Pages of one history read, at most: a service with more than 500 service deployments
/// since the gate last looked is read up to its 500 newest (the rest are older than 90 days
/// or were read before).
const LIST_SERVICE_DEPLOYMENTS_PAGES: usize = 5;

/// ECS's service-deployment history (kept since October 2024, for 90 days:
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html>).
/// IAM (the Service Authorization Reference's resource types): `ecs:ListServiceDeployments`
/// on the service; `ecs:DescribeServiceDeployments` on the service and on
/// `service-deployment/<cluster>/<service>/*`; `ecs:DescribeServiceRevisions` on the service
/// and on `service-revision/<cluster>/<service>/*`.
pub trait ServiceHistory {
    /// The service deployments of `service` created at or after `since`, oldest first
    /// (ListServiceDeployments, every page; the SDK has no paginator for it).
    fn service_deployments_since(
        &self,
        service: &ServiceArn,
        since: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Vec<ServiceDeploymentBrief>, AwsError>> + Send;

    /// The task definition of each service revision ECS still has (DescribeServiceRevisions,
    /// [`DESCRIBE_SERVICE_REVISIONS_BATCH`] a call), as (service revision ARN, task definition).
    fn revision_task_definitions(
        &self,
        revisions: &[String],
    ) -> impl Future<Output = Result<Vec<(String, TaskDefArn)>, AwsError>> + Send;

    /// For each service deployment ECS's circuit breaker rolled back, the service revision it
    /// rolled back to (DescribeServiceDeployments `rollback.serviceRevisionArn`,
    /// [`DESCRIBE_SERVICE_DEPLOYMENTS_BATCH`] a call), as (service deployment ARN, service
    /// revision ARN). Deployments ECS no longer has, or that did not roll back, are left out.
    fn rollback_revisions(
        &self,
        deployments: &[String],
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
}

impl ServiceHistory for Ecs {
    async fn service_deployments_since(
        &self,
        service: &ServiceArn,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<ServiceDeploymentBrief>, AwsError> {
        let after = aws_smithy_types::DateTime::from_secs(since.timestamp());
        let mut briefs = Vec::new();
        let mut token = None;
        for _ in 0..LIST_SERVICE_DEPLOYMENTS_PAGES {
            let page = self
                .client
                .list_service_deployments()
                .cluster(service.cluster_name())
                .service(service.as_str())
                .created_at(aws_sdk_ecs::types::CreatedAt::builder().after(after).build())
                .max_results(LIST_SERVICE_DEPLOYMENTS_PAGE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListServiceDeployments", e))?;
            for b in page.service_deployments.unwrap_or_default() {
                let (Some(arn), Some(created_at)) = (b.service_deployment_arn, b.created_at.and_then(to_chrono)) else {
                    warn!(service = %service, "ListServiceDeployments returned a deployment without ARN or createdAt; left out");
                    continue;
                };
                briefs.push(ServiceDeploymentBrief {
                    arn,
                    status: ServiceDeploymentStatus::from_api(b.status.as_ref().map_or("", |s| s.as_str())),
                    status_reason: b.status_reason,
                    created_at,
                    target_revision: b.target_service_revision_arn,
                });
            }
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        briefs.sort_by_key(|b| b.created_at);
        Ok(briefs)
    }

    async fn revision_task_definitions(&self, revisions: &[String]) -> Result<Vec<(String, TaskDefArn)>, AwsError> {
        let mut found = Vec::new();
        for batch in revisions.chunks(DESCRIBE_SERVICE_REVISIONS_BATCH) {
            let out = self
                .client
                .describe_service_revisions()
                .set_service_revision_arns(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeServiceRevisions", e))?;
            for r in out.service_revisions.unwrap_or_default() {
                if let (Some(arn), Some(Ok(td))) =
                    (r.service_revision_arn, r.task_definition.as_deref().map(TaskDefArn::parse))
                {
                    found.push((arn, td));
                }
            }
        }
        Ok(found)
    }

    async fn rollback_revisions(&self, deployments: &[String]) -> Result<Vec<(String, String)>, AwsError> {
        let mut found = Vec::new();
        for batch in deployments.chunks(DESCRIBE_SERVICE_DEPLOYMENTS_BATCH) {
            let out = self
                .client
                .describe_service_deployments()
                .set_service_deployment_arns(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeServiceDeployments", e))?;
            for d in out.service_deployments.unwrap_or_default() {
                if let (Some(arn), Some(to)) =
                    (d.service_deployment_arn, d.rollback.and_then(|r| r.service_revision_arn))
                {
                    found.push((arn, to));
                }
            }
        }
        Ok(found)
    }
}
