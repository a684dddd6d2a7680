//! The tagging index: ECS services and task-definition revisions found by their tags through
//! the Resource Groups Tagging API, instead of by listing every cluster
//! (`rollgate_core::index`).

use std::future::Future;

use aws_sdk_resourcegroupstagging::types::TagFilter;
use rollgate_core::index::{IndexQuery, Indexed};

use crate::AwsError;

/// Resources by tag.
pub trait ResourceIndex {
    /// Every resource of `query.resource_type` in the caller's account and region whose tags
    /// match `query.filters` (filters ANDed, each filter's values ORed), with the tags the index
    /// holds for it
    /// ([GetResources](https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html),
    /// 100 resources a page, every page followed until `PaginationToken` is empty; a page may
    /// hold fewer than asked while more remain).
    ///
    /// The answer is eventually consistent: it may still list a resource untagged or deleted a
    /// while ago and may not list one tagged a moment ago. Callers read each candidate again.
    ///
    /// Errors: [`AwsError::Api`] when a page's call fails: `AccessDeniedException` without
    /// `tag:GetResources` (NonRetryable), `ThrottledException` or `InternalServiceException`
    /// (Retryable), `PaginationTokenExpiredException` after 15 minutes between pages
    /// (Retryable: a new query starts over).
    fn resources(&self, query: &IndexQuery) -> impl Future<Output = Result<Vec<Indexed>, AwsError>> + Send;
}

/// `GetResources`' largest page.
pub const RESOURCES_PER_PAGE: i32 = 100;

/// The tagging client's side of [`crate::ecs::Ecs`].
pub(crate) async fn get_resources(
    client: &aws_sdk_resourcegroupstagging::Client,
    query: &IndexQuery,
) -> Result<Vec<Indexed>, AwsError> {
    let filters = query
        .filters
        .iter()
        .map(|f| TagFilter::builder().key(&f.key).set_values((!f.values.is_empty()).then(|| f.values.clone())).build())
        .collect();
    let mut pages = client
        .get_resources()
        .resource_type_filters(query.resource_type.as_str())
        .set_tag_filters(Some(filters))
        .resources_per_page(RESOURCES_PER_PAGE)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("GetResources", e))?;
        for mapping in page.resource_tag_mapping_list.unwrap_or_default() {
            let Some(arn) = mapping.resource_arn else { continue };
            let tags = mapping.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect();
            found.push(Indexed { arn, tags });
        }
    }
    Ok(found)
}
