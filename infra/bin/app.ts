// The CDK app: `cd infra && npx aws-cdk@2 deploy -c models=wan2.1-t2v-1.3b` (docs/deploy.md).
// Account and region come from the AWS profile (CDK_DEFAULT_ACCOUNT/REGION); nothing is hard-coded.
import path from "node:path";
import { App } from "aws-cdk-lib";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { Platform } from "aws-cdk-lib/aws-ecr-assets";
import type { Construct } from "constructs";
import { parseSettings } from "../lib/config.js";
import { TurbowanStack } from "../lib/stack.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const app = new App();

const KEYS = [
  "models", "workers", "jobsPrefix", "modelsPrefix", "artifactExpiryDays", "publicReadPrefix", "secretName", "publicUrl",
  "alarmEmail", "maxJobAgeS", "idleMinutesToZero", "workerImage", "ingressImage", "vpcId", "logLevel",
] as const;
const settings = parseSettings(Object.fromEntries(KEYS.map((k) => [k, app.node.tryGetContext(k)])));

/** An ECR image URI `<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>` imported so the task
 * or function is granted pull access; undefined for other registries. */
function ecrRepository<T>(scope: Construct, id: string, uri: string, use: (repo: ecr.IRepository, tag: string) => T): T | undefined {
  const m = /^[^/]+\.dkr\.ecr\.[^/]+\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+))?$/.exec(uri);
  return m ? use(ecr.Repository.fromRepositoryName(scope, id, m[1]!), m[2] ?? "latest") : undefined;
}

new TurbowanStack(app, "Turbowan", {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: "turbowan: Discord/GitHub/web video generation on scale-to-zero GPU workers",
  settings,
  images: {
    // Built by `cdk deploy` from the repository (needs a Docker engine there) unless prebuilt.
    worker: (scope) =>
      settings.workerImage
        ? ecrRepository(scope, "WorkerRepository", settings.workerImage, (repo, tag) => ecs.ContainerImage.fromEcrRepository(repo, tag)) ??
          ecs.ContainerImage.fromRegistry(settings.workerImage)
        : ecs.ContainerImage.fromAsset(repoRoot, { file: "container/Dockerfile", platform: Platform.LINUX_AMD64 }),
    ingress: settings.ingressImage
      ? (scope) => {
          const code = ecrRepository(scope, "IngressRepository", settings.ingressImage!, (repo, tag) => lambda.DockerImageCode.fromEcr(repo, { tagOrDigest: tag }));
          if (!code) throw new Error(`ingressImage must be an ECR image URI (Lambda pulls only from ECR), e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/turbowan-ingress:v1`);
          return code;
        }
      : () => lambda.DockerImageCode.fromImageAsset(repoRoot, { file: "container/Dockerfile.ingress", platform: Platform.LINUX_AMD64 }),
    router: lambda.Code.fromAsset(path.join(repoRoot, "infra/lambda/router")),
  },
});
