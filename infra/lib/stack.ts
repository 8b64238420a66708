// The whole deployment: artifact bucket, one job queue + GPU service per model, the ingress
// (Lambda + function URL + intake queue + router), alarms with an optional email topic.
//
// Why per-model queues rather than one queue with message-attribute routing: SQS cannot filter a
// receive by attribute, so a worker serving 1.3B would have to take 14B jobs off a shared queue
// and put them back, and a backlog of 14B jobs would scale every service. With a queue per model,
// a 1.3B job waits only behind 1.3B jobs, each model's GPU service scales on its own backlog and
// instance type, and a poison job dead-letters per model. The ingress still sends to one queue
// (TURBOWAN_SQS_QUEUE_URL = turbowan-jobs); the router moves jobs by their `model` attribute to
// turbowan-jobs-<model>, the names the SQS driver's routeByModel mode uses, so a sender that routes
// itself can skip the router.
import { CfnOutput, Duration, Stack, type StackProps } from "aws-cdk-lib";
import * as cwactions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subs from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct } from "constructs";
import { ArtifactBucket } from "./artifacts.js";
import { modelQueueName } from "../../functions/queue/sqs.js";
import { queueSlug, type DeploySettings } from "./config.js";
import { GpuWorkers } from "./gpu-workers.js";
import { Ingress } from "./ingress.js";
import { JobQueue } from "./queues.js";

/** The intake queue; model queues are `<base>-<model>` beside it. */
export const BASE_QUEUE_NAME = "turbowan-jobs";

export interface TurbowanStackProps extends StackProps {
  settings: DeploySettings;
  /** Built by the caller so tests can synthesize without Docker: see infra/bin/app.ts. */
  images: {
    worker: (scope: Construct) => ecs.ContainerImage;
    /** A factory, because an image in an existing ECR repository needs a scope to import it in. */
    ingress: (scope: Construct) => lambda.DockerImageCode;
    router: lambda.Code;
  };
}

export class TurbowanStack extends Stack {
  readonly artifacts: ArtifactBucket;
  readonly queues: Record<string, JobQueue> = {};
  readonly workers: Record<string, GpuWorkers> = {};
  readonly ingress: Ingress;

  constructor(scope: Construct, id: string, props: TurbowanStackProps) {
    super(scope, id, props);
    const s = props.settings;

    this.artifacts = new ArtifactBucket(this, "Artifacts", {
      jobsPrefix: s.jobsPrefix,
      modelsPrefix: s.modelsPrefix,
      expiryDays: s.artifactExpiryDays,
      publicReadPrefix: s.publicReadPrefix,
    });
    // Created beforehand with the Discord/GitHub keys (docs/deploy.md, "Secrets"); never in the template.
    const secret = secretsmanager.Secret.fromSecretNameV2(this, "AppSecret", s.secretName);

    const vpc = s.vpcId
      ? ec2.Vpc.fromLookup(this, "Vpc", { vpcId: s.vpcId })
      : new ec2.Vpc(this, "Vpc", {
          maxAzs: 3,
          natGateways: 0,
          subnetConfiguration: [{ name: "public", subnetType: ec2.SubnetType.PUBLIC }],
          // Checkpoint downloads from S3 stay on the AWS network, free of transfer charges.
          gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
        });
    const workerImage = props.images.worker(this);
    const cluster = new ecs.Cluster(this, "Cluster", { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });

    for (const model of s.models) {
      const slug = queueSlug(model);
      // The driver's own naming (functions/queue/sqs.ts): with routeByModel, a sender finds these
      // queues beside the base queue without the router.
      const jobQueue = new JobQueue(this, `Queue-${slug}`, { queueName: modelQueueName(BASE_QUEUE_NAME, model), maxAge: Duration.seconds(s.maxJobAgeS) });
      this.queues[model] = jobQueue;
      this.workers[model] = new GpuWorkers(this, `Workers-${slug}`, {
        model,
        slug,
        settings: s.workers[model]!,
        cluster,
        vpc,
        image: workerImage,
        jobQueue,
        artifacts: this.artifacts,
        jobsPrefix: s.jobsPrefix,
        modelsPrefix: s.modelsPrefix,
        secret,
        publicUrl: s.publicUrl,
        idleMinutesToZero: s.idleMinutesToZero,
        logLevel: s.logLevel,
      });
    }

    this.ingress = new Ingress(this, "Ingress", {
      code: props.images.ingress(this),
      routerCode: props.images.router,
      artifacts: this.artifacts,
      jobsPrefix: s.jobsPrefix,
      secret,
      modelQueues: Object.fromEntries(Object.entries(this.queues).map(([m, q]) => [m, q.queue])),
      publicUrl: s.publicUrl,
      logLevel: s.logLevel,
      intakeQueueName: BASE_QUEUE_NAME,
    });

    if (s.alarmEmail) {
      const topic = new sns.Topic(this, "Alarms", { displayName: "turbowan alarms" });
      topic.addSubscription(new subs.EmailSubscription(s.alarmEmail));
      const action = new cwactions.SnsAction(topic);
      for (const q of [...Object.values(this.queues), this.ingress.intake]) for (const a of q.alarms) a.addAlarmAction(action);
    }

    new CfnOutput(this, "IngressUrl", { value: this.ingress.url.url, description: "Base URL: Discord Interactions Endpoint = <this>discord/interactions, GitHub webhook = <this>github/webhooks, health = <this>healthz" });
    new CfnOutput(this, "ArtifactBucketName", { value: this.artifacts.bucket.bucketName });
    new CfnOutput(this, "IntakeQueueUrl", { value: this.ingress.intake.queue.queueUrl, description: "TURBOWAN_SQS_QUEUE_URL for anything that submits jobs" });
    for (const [model, q] of Object.entries(this.queues)) {
      new CfnOutput(this, `QueueUrl${queueSlug(model).replace(/[^A-Za-z0-9]/g, "")}`, { value: q.queue.queueUrl, description: `TURBOWAN_SQS_QUEUE_URL for ${model} workers (docker run anywhere)` });
    }
  }
}
