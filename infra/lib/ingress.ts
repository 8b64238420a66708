// The front door: the hono ingress as a Lambda (container image from container/Dockerfile.ingress)
// behind a function URL, the intake queue it sends every job to, and the router that moves each job
// to its model's queue. Discord and GitHub verify their own signatures in the app, so the URL is
// public (auth NONE); the function's role can only send to the intake queue, use the jobs prefix of
// the bucket, and read its one secret.
import { Duration } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { ArtifactBucket } from "./artifacts.js";
import { JobQueue } from "./queues.js";

export interface IngressProps {
  code: lambda.DockerImageCode;
  routerCode: lambda.Code;
  artifacts: ArtifactBucket;
  jobsPrefix: string;
  secret: secretsmanager.ISecret;
  /** model → its job queue */
  modelQueues: Record<string, sqs.IQueue>;
  publicUrl?: string;
  logLevel: string;
  intakeQueueName: string;
}

export class Ingress extends Construct {
  readonly function: lambda.DockerImageFunction;
  readonly url: lambda.FunctionUrl;
  readonly intake: JobQueue;
  readonly router: lambda.Function;

  constructor(scope: Construct, id: string, props: IngressProps) {
    super(scope, id);
    const models = Object.keys(props.modelQueues);

    // The router takes a message in well under a second; a short lease redelivers quickly if it
    // crashes. AWS asks for a visibility timeout of at least 6× the consumer function's timeout.
    const routerTimeout = Duration.seconds(10);
    this.intake = new JobQueue(this, "Intake", {
      queueName: props.intakeQueueName,
      visibilityTimeout: Duration.seconds(routerTimeout.toSeconds() * 6),
      maxAge: Duration.seconds(120),
    });

    this.function = new lambda.DockerImageFunction(this, "Function", {
      description: "turbowan ingress: Discord interactions, GitHub webhooks, web console and API",
      code: props.code,
      architecture: lambda.Architecture.X86_64,
      memorySize: 1024,
      // Discord wants an answer in 3 s; the app acks first and works after.
      timeout: Duration.seconds(30),
      logGroup: new logs.LogGroup(this, "Logs", { retention: logs.RetentionDays.ONE_MONTH }),
      environment: {
        TURBOWAN_QUEUE: "sqs",
        TURBOWAN_SQS_QUEUE_URL: this.intake.queue.queueUrl,
        TURBOWAN_STORE: "s3",
        TURBOWAN_S3_BUCKET: props.artifacts.bucket.bucketName,
        TURBOWAN_S3_PREFIX: props.jobsPrefix,
        TURBOWAN_MODELS: models.join(","),
        TURBOWAN_SECRETS_ID: props.secret.secretArn,
        ...(props.publicUrl ? { TURBOWAN_PUBLIC_URL: props.publicUrl } : {}),
        LOG_LEVEL: props.logLevel,
      },
    });
    const role = this.function.role!;
    // Send only: no receive, no delete, no purge.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [this.intake.queue.queueArn] }));
    props.artifacts.grantPrefixReadWrite(role, props.jobsPrefix);
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [secretArnPattern(props.secret)] }));

    this.url = this.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

    this.router = new lambda.Function(this, "Router", {
      description: "turbowan: moves each job from the intake queue to its model's queue",
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: "index.handler",
      code: props.routerCode,
      memorySize: 256,
      timeout: routerTimeout,
      logGroup: new logs.LogGroup(this, "RouterLogs", { retention: logs.RetentionDays.ONE_MONTH }),
      environment: { ROUTES: JSON.stringify(Object.fromEntries(Object.entries(props.modelQueues).map(([m, q]) => [m, q.queueUrl]))) },
    });
    this.router.addEventSource(
      new SqsEventSource(this.intake.queue, { batchSize: 10, maxBatchingWindow: Duration.seconds(0), reportBatchItemFailures: true }),
    );
    for (const q of Object.values(props.modelQueues)) {
      this.router.role!.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [q.queueArn] }));
    }
  }
}

/** A secret imported by name has an ARN with a random 6-character suffix. */
export function secretArnPattern(secret: secretsmanager.ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}
