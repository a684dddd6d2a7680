//! The app's IAM roles (execution, task and build role). IAM is global: a role serves the app
//! in every region, and each region keeps its own inline policy (`rollgate-<region>`) and its
//! own `rollgate:region:<region>` tag on it, so `down` in one region never deletes a role
//! another region uses (docs/architecture.md).

use aws_sdk_iam::types::Tag;
use rollgate_core::infra::desired::{APP_TAG, MANAGED_TAG, Value, region_tag};
use rollgate_core::infra::plan::ALL_TAGS;
use rollgate_core::infra::spec::{RoleSpec, TagMap};
use rollgate_core::infra::teardown::REGIONS_IN_USE;
use rollgate_core::infra::{Attrs, Kind};
use rollgate_core::ledger::keys;

use super::{ApplyContext, Changed, Infra, absent, api, attrs, built};
use crate::AwsError;

/// The name of the inline policy rollgate writes on a role: one per region, since it names
/// that region's repository and log group, and a role serves the app in every region.
fn inline_policy_name(region: Option<&str>) -> String {
    format!("rollgate-{}", region.unwrap_or("global"))
}

/// IAM returns policy documents URL-encoded (RFC 3986 percent-encoding).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn iam_tags(tags: &TagMap) -> Result<Vec<Tag>, AwsError> {
    tags.iter().map(|(k, v)| built(Tag::builder().key(k).value(v).build())).collect()
}

fn policy_text(policy: &serde_json::Value) -> String {
    Value::Json(policy.clone()).as_json_text()
}

impl Infra {
    /// The ARNs of the managed policies attached to role `name` (ListAttachedRolePolicies,
    /// every page).
    async fn attached_policies(&self, name: &str) -> Result<Vec<String>, AwsError> {
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api("ListAttachedRolePolicies"))?;
        Ok(attached.into_iter().filter_map(|p| p.policy_arn).collect())
    }

    /// DetachRolePolicy.
    async fn detach(&self, name: &str, policy_arn: &str) -> Result<(), AwsError> {
        self.iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(api("DetachRolePolicy"))?;
        Ok(())
    }

    /// DeleteRolePolicy of inline policy `policy`.
    async fn delete_inline(&self, name: &str, policy: &str) -> Result<(), AwsError> {
        self.iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(api("DeleteRolePolicy"))?;
        Ok(())
    }

    /// The names of role `name`'s inline policies (ListRolePolicies, every page).
    async fn inline_policy_names(&self, name: &str) -> Result<Vec<String>, AwsError> {
        self.iam
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api("ListRolePolicies"))
    }

    pub(super) async fn read_role(&self, name: &str) -> Result<Option<Attrs>, AwsError> {
        let out = self.iam.get_role().role_name(name).send().await.map_err(api("GetRole"));
        let Some(out) = absent(out, &["NoSuchEntity"])? else { return Ok(None) };
        let Some(role) = out.role else { return Ok(None) };
        let trust = role
            .assume_role_policy_document
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(&percent_decode(d)).ok())
            .map_or(Value::Absent, Value::Json);
        let tags = role.tags.unwrap_or_default();
        let this_region = self.region.as_deref().map(region_tag);
        let regions: Vec<String> =
            tags.iter().filter_map(|t| t.key.strip_prefix(keys::REGION_PREFIX).map(str::to_owned)).collect();
        let managed = self.attached_policies(name).await?;
        let inline = self
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(inline_policy_name(self.region.as_deref()))
            .send()
            .await
            .map_err(api("GetRolePolicy"));
        let inline = absent(inline, &["NoSuchEntity"])?
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&percent_decode(&p.policy_document)).ok())
            .map_or(Value::Absent, Value::Json);
        let others = self.inline_policy_names(name).await?.into_iter().filter(|n| !n.starts_with("rollgate-"));
        let compared = |k: &str| k == MANAGED_TAG || k == APP_TAG || Some(k) == this_region.as_deref();
        Ok(Some(attrs([
            ("trust_policy", trust),
            ("managed_policies", Value::set(managed)),
            ("inline_policy", inline),
            ("other_inline_policies", Value::set(others)),
            ("tags", Value::map(tags.iter().filter(|t| compared(&t.key)).map(|t| (t.key.as_str(), t.value.as_str())))),
            (ALL_TAGS, Value::map(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())))),
            (REGIONS_IN_USE, Value::set(regions)),
            ("arn", Value::text(role.arn)),
        ])))
    }

    pub(super) async fn create_role(&self, name: &str, spec: &RoleSpec) -> Result<(), AwsError> {
        self.iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(policy_text(&spec.trust_policy))
            .description("Managed by rollgate")
            .set_tags(Some(iam_tags(&spec.tags)?))
            .send()
            .await
            .map_err(api("CreateRole"))?;
        for arn in &spec.managed_policies {
            self.iam
                .attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(api("AttachRolePolicy"))?;
        }
        self.put_inline_policy(name, spec).await
    }

    /// Deletes this region's inline policy from `role`, if it has one.
    pub(super) async fn delete_region_policy(&self, role: &str) -> Result<(), AwsError> {
        let deleted = self
            .iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(inline_policy_name(self.region.as_deref()))
            .send()
            .await;
        absent(deleted.map_err(api("DeleteRolePolicy")), &["NoSuchEntity"]).map(drop)
    }

    async fn put_inline_policy(&self, name: &str, spec: &RoleSpec) -> Result<(), AwsError> {
        let Some(policy) = &spec.inline_policy else { return self.delete_region_policy(name).await };
        self.iam
            .put_role_policy()
            .role_name(name)
            .policy_name(inline_policy_name(self.region.as_deref()))
            .policy_document(policy_text(policy))
            .send()
            .await
            .map_err(api("PutRolePolicy"))?;
        Ok(())
    }

    pub(super) async fn update_role(
        &self,
        kind: Kind,
        name: &str,
        spec: &RoleSpec,
        changed: &Changed<'_>,
        ctx: &ApplyContext,
    ) -> Result<(), AwsError> {
        let observed_list = |key: &str| {
            ctx.observed(kind, name).and_then(|a| a.get(key)).map(|v| v.as_list().to_vec()).unwrap_or_default()
        };
        // Tags first, as for the repository.
        if changed.has("tags") {
            self.iam
                .tag_role()
                .role_name(name)
                .set_tags(Some(iam_tags(&spec.tags)?))
                .send()
                .await
                .map_err(api("TagRole"))?;
        }
        if changed.has("trust_policy") {
            self.iam
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(policy_text(&spec.trust_policy))
                .send()
                .await
                .map_err(api("UpdateAssumeRolePolicy"))?;
        }
        if changed.has("managed_policies") {
            let have = observed_list("managed_policies");
            for arn in spec.managed_policies.iter().filter(|w| !have.contains(w)) {
                self.iam
                    .attach_role_policy()
                    .role_name(name)
                    .policy_arn(arn.as_str())
                    .send()
                    .await
                    .map_err(api("AttachRolePolicy"))?;
            }
            for arn in have.iter().filter(|h| !spec.managed_policies.contains(h)) {
                self.detach(name, arn).await?;
            }
        }
        if changed.has("inline_policy") {
            self.put_inline_policy(name, spec).await?;
        }
        if changed.has("other_inline_policies") {
            for policy in observed_list("other_inline_policies") {
                self.delete_inline(name, &policy).await?;
            }
        }
        Ok(())
    }

    /// `down` in a region that shares the role with others: this region's inline policy and
    /// its `rollgate:region:<region>` tag go; the role and the other regions' stay.
    pub(super) async fn release_role(&self, name: &str) -> Result<(), AwsError> {
        self.delete_region_policy(name).await?;
        if let Some(key) = self.region.as_deref().map(region_tag) {
            self.iam.untag_role().role_name(name).tag_keys(key).send().await.map_err(api("UntagRole"))?;
        }
        Ok(())
    }

    /// Deletes a role: first what is attached now (not what the config wants), since IAM
    /// refuses DeleteRole while any policy is attached or inline.
    pub(super) async fn delete_role(&self, name: &str) -> Result<(), AwsError> {
        for arn in self.attached_policies(name).await? {
            self.detach(name, &arn).await?;
        }
        for policy in self.inline_policy_names(name).await? {
            self.delete_inline(name, &policy).await?;
        }
        self.iam.delete_role().role_name(name).send().await.map_err(api("DeleteRole"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding() {
        assert_eq!(super::percent_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(super::percent_decode("{\"a\": 1}"), "{\"a\": 1}");
        assert_eq!(super::percent_decode("100%"), "100%");
    }
}
