//! The CodeBuild buildspec of the model-image project `rollgate up` provisions.
//!
//! The model is **baked into the image**: the build copies the artifact from S3 into a
//! generated Dockerfile `FROM $BASE_IMAGE`. One digest then names one model version and its
//! serving code together, so the health gate verifies exactly what runs, a rollback restores
//! the previous model too, and tasks start without a download. The image carries the model's
//! version and source as labels.
//!
//! Per build, `model-build` overrides `MODEL_URI`, `MODEL_VERSION` and `IMAGE_TAG`; the
//! project sets `REPOSITORY_URI`, `BASE_IMAGE` and `MODEL_DIR`.

/// The buildspec (version 0.2, YAML) of the model-image CodeBuild project; format:
/// <https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html>.
pub const BUILDSPEC: &str = r#"version: 0.2
env:
  shell: bash
  variables:
    DOCKER_BUILDKIT: "1"
phases:
  pre_build:
    commands:
      - test -n "$MODEL_URI" && test -n "$MODEL_VERSION" && test -n "$IMAGE_TAG" && test -n "$BASE_IMAGE"
      - aws ecr get-login-password --region "$AWS_DEFAULT_REGION" | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"
      - mkdir -p model
      - if [[ "$MODEL_URI" == */ ]]; then aws s3 cp --recursive "$MODEL_URI" model/; else aws s3 cp "$MODEL_URI" model/; fi
      - printf 'FROM %s\nCOPY model/ %s/\nENV MODEL_VERSION=%s MODEL_DIR=%s\n' "$BASE_IMAGE" "$MODEL_DIR" "$MODEL_VERSION" "$MODEL_DIR" > Dockerfile
  build:
    commands:
      - docker build --label "ai.rollgate.model.version=$MODEL_VERSION" --label "ai.rollgate.model.uri=$MODEL_URI" --label "org.opencontainers.image.version=$MODEL_VERSION" -t "$REPOSITORY_URI:$IMAGE_TAG" .
  post_build:
    commands:
      - test "$CODEBUILD_BUILD_SUCCEEDING" = 1
      - docker push "$REPOSITORY_URI:$IMAGE_TAG"
"#;
