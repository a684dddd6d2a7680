//! Image names, platforms and manifests.

use super::*;

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn digests() {
    assert_eq!(Digest::parse(D).unwrap().short(), "0123456789ab");
    for bad in ["", "sha256:", "md5:abcd", "sha256:XYZ", &D[..D.len() - 1], &D.to_uppercase()] {
        assert!(Digest::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn tags() {
    for ok in ["v1", "latest", "release-2024.01_a", "_x"] {
        assert!(ImageTag::parse_for_docker(ok).is_ok(), "{ok}");
        assert!(ImageTag::parse(ok).is_ok(), "{ok}");
    }
    for bad in ["", "-v1", ".v1", "v 1", "v1/2", &"a".repeat(129)] {
        assert!(ImageTag::parse_for_docker(bad).is_err(), "{bad}");
    }
    // What ECR's API accepts: a push event may carry it.
    for ecr_only in ["-v1", ".hidden", &"a".repeat(300)] {
        assert!(ImageTag::parse(ecr_only).is_ok(), "{ecr_only}");
    }
    for bad in ["", "v 1", "v1/2", "v1:2", &"a".repeat(301)] {
        assert!(ImageTag::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn repository_names() {
    for ok in ["model", "models/sentiment", "a-b_c.d/e"] {
        assert!(RepositoryName::parse(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a", "Model", "a//b", "a-", "-a", "a/", "a..b"] {
        assert!(RepositoryName::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn image_refs() {
    let r = ImageRef::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/models/sentiment:v1");
    assert_eq!(r.registry.as_deref(), Some("123456789012.dkr.ecr.us-east-1.amazonaws.com"));
    assert_eq!(r.repository, "models/sentiment");
    assert_eq!(r.tag.as_deref(), Some("v1"));
    let r = ImageRef::parse(&format!("localhost:5000/m@{D}"));
    assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
    assert_eq!((r.tag, r.digest.as_deref()), (None, Some(D)));
    let r = ImageRef::parse("nginx:1.27");
    assert_eq!((r.registry, r.repository.as_str()), (None, "nginx"));
    let r = ImageRef::parse("library/nginx");
    assert_eq!((r.registry, r.repository.as_str()), (None, "library/nginx"));
}

#[test]
fn pinned_reference() {
    let account = AccountId::parse("123456789012").unwrap();
    let region = Region::parse("eu-west-1").unwrap();
    let host = registry_host(&account, &region);
    let repo = RepositoryName::parse("model").unwrap();
    let pinned = ImageRef::pinned(&host, &repo, &Digest::parse(D).unwrap());
    assert_eq!(pinned, format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/model@{D}"));
    assert!(ImageRef::parse(&pinned).is_in(&account, &region, &repo));
    for other in [
        format!("123456789012.dkr.ecr-fips.eu-west-1.amazonaws.com/model@{D}"),
        "123456789012.dkr-ecr.eu-west-1.on.aws/model:v1".to_owned(),
        "123456789012.dkr-ecr-fips.eu-west-1.on.aws/model".to_owned(),
    ] {
        assert!(ImageRef::parse(&other).is_in(&account, &region, &repo), "{other}: another endpoint form");
    }
    for not in [
        format!("210987654321.dkr.ecr.eu-west-1.amazonaws.com/model@{D}"),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/model".to_owned(),
        "123456789012.dkr.ecr.eu-west-1.example.com/model".to_owned(),
        "public.ecr.aws/x/model".to_owned(),
        "model".to_owned(),
    ] {
        assert!(!ImageRef::parse(&not).is_in(&account, &region, &repo), "{not}");
    }
}

/// The platforms of an image index, from the exact bytes behind events/buildx/05's digest
/// (events/SOURCES.md): the two images count, their attestations do not.
#[test]
fn an_index_lists_its_images_platforms_not_its_attestations() {
    let sources = std::fs::read_to_string(format!("{}/../../events/SOURCES.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let json = sources
        .lines()
        .find(|l| l.starts_with("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index"))
        .unwrap();
    let manifest = Manifest::parse(json, None).unwrap();
    let shown: Vec<String> = manifest.platforms().unwrap().iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["linux/amd64", "linux/arm64"]);
    let Manifest::Index { children, .. } = &manifest else { panic!("an index") };
    assert_eq!(children.len(), 4);
    assert_eq!(manifest.not_runnable(), None);
}

/// What can never run is named as such, whatever the task: a referrer (a `subject`), an
/// artifact, an index of attestations only or of nothing (the OCI referrers tag schema),
/// an image whose config says unknown/unknown. What is not stated is not checked.
#[test]
fn manifests_that_never_run_are_named_and_unknown_platforms_are_not_checked() {
    let image = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001","size":2},"layers":[]}"#;
    assert!(matches!(Manifest::parse(image, None).unwrap(), Manifest::Image { .. }));
    let signature =
        image.replace("\"config\"", "\"artifactType\":\"application/vnd.cncf.notary.signature\",\"config\"");
    let with_subject = image.replace(
        "\"layers\":[]",
        &format!("\"layers\":[],\"subject\":{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"{D}\",\"size\":1}}"),
    );
    let attestations_only = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D}","size":1,"annotations":{{"vnd.docker.reference.type":"attestation-manifest"}},"platform":{{"architecture":"unknown","os":"unknown"}}}}]}}"#
    );
    let empty = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let signatures_only = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.notary.signature","digest":"{D}","size":1}}]}}"#
    );
    for (what, json) in [
        ("signature", signature.as_str()),
        ("referrer", &with_subject),
        ("attestations only", &attestations_only),
        ("empty index", empty),
        ("an index of signatures only", &signatures_only),
    ] {
        let m = Manifest::parse(json, None).unwrap();
        assert!(m.not_runnable().is_some(), "{what}: {m:?}");
        assert_eq!(m.platforms(), Some(vec![]), "{what}");
    }
    let attestation_config = Manifest::Image {
        config: Digest::parse(D).unwrap(),
        platform: ConfigPlatform::of_config(br#"{"architecture":"unknown","os":"unknown"}"#),
    };
    assert!(attestation_config.not_runnable().is_some());
    // Not stated: not checked.
    let no_platform_entry = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{D}","size":1}}]}}"#
    );
    assert_eq!(Manifest::parse(&no_platform_entry, None).unwrap().platforms(), None, "a nested index");
    // An SBOM descriptor next to an arm64 image does not hide the image's platform.
    let with_sbom = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D}","size":1,"platform":{{"architecture":"arm64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","digest":"{D}","size":1}}]}}"#
    );
    let platforms = Manifest::parse(&with_sbom, None).unwrap().platforms().unwrap();
    assert_eq!(platforms.iter().map(ToString::to_string).collect::<Vec<_>>(), ["linux/arm64"]);
    assert_eq!(ConfigPlatform::of_config(br#"{"rootfs":{}}"#), ConfigPlatform::NotRead);
    assert!(Manifest::parse("not json", None).is_err());
    // containerd's aliases.
    let ConfigPlatform::Stated(p) = ConfigPlatform::of_config(br#"{"architecture":"x86_64","os":"Linux"}"#) else {
        panic!()
    };
    assert_eq!(p.to_string(), "linux/amd64");
    let ConfigPlatform::Stated(p) =
        ConfigPlatform::of_config(br#"{"architecture":"arm64","os":"linux","variant":"v8"}"#)
    else {
        panic!()
    };
    assert_eq!(p.to_string(), "linux/arm64/v8");
}

#[test]
fn a_tasks_platform_comes_from_runtime_platform_or_fargates_defaults() {
    let p = |c: Option<&str>, o: Option<&str>, fargate_only: bool| {
        Platform::of_task(c, o, fargate_only).map(|p| p.to_string())
    };
    assert_eq!(p(Some("ARM64"), Some("LINUX"), false).as_deref(), Some("linux/arm64"));
    assert_eq!(p(None, None, true).as_deref(), Some("linux/amd64"), "Fargate's documented default");
    assert_eq!(p(None, None, false), None, "EC2 (or EC2 and Fargate) without runtimePlatform: the host decides");
    assert_eq!(p(None, Some("LINUX"), false), None, "only the OS family: the host decides the architecture");
    assert_eq!(p(Some("X86_64"), Some("WINDOWS_SERVER_2022_CORE"), false).as_deref(), Some("windows/amd64 10.0.20348"));
    assert_eq!(p(Some("RISCV"), None, true), None);
    let arm =
        Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()), os_version: None };
    assert!(arm.runs_on(&Platform::of_task(Some("ARM64"), None, true).unwrap()));
    assert!(!arm.runs_on(&Platform::of_task(None, None, true).unwrap()));
    // Windows: the build must match (process isolation).
    let win = |v: &str| Platform {
        os: "windows".into(),
        architecture: "amd64".into(),
        variant: None,
        os_version: Some(v.into()),
    };
    let server_2019 = Platform::of_task(Some("X86_64"), Some("WINDOWS_SERVER_2019_CORE"), false).unwrap();
    assert!(win("10.0.17763.6532").runs_on(&server_2019));
    assert!(!win("10.0.20348.2849").runs_on(&server_2019));
}
