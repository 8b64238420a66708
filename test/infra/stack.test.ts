// Synthesizes the CDK app in-process (no AWS account, no Docker) and asserts the template.
// Synthesis is slow, so each stack is synthesized once.
import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { HEARTBEAT_INTERVAL_S, MAX_RECEIVES, VISIBILITY_TIMEOUT_S } from "../../functions/queue/constants.js";
import { parseSettings, type DeploySettings } from "../../infra/lib/config.js";
import { TurbowanStack } from "../../infra/lib/stack.js";

const read = (p: string) => readFileSync(path.resolve(import.meta.dirname, "../..", p), "utf8");

type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: string[] };

function synth(settings: DeploySettings): { template: Template; resources: Record<string, Resource> } {
  const app = new App();
  const stack = new TurbowanStack(app, "Test", {
    env: { account: "123456789012", region: "us-east-1" },
    settings,
    images: {
      worker: () => ecs.ContainerImage.fromRegistry("example.org/turbowan-worker:test"),
      ingress: (scope) => lambda.DockerImageCode.fromEcr(ecr.Repository.fromRepositoryName(scope, "IngressRepo", "turbowan-ingress")),
      router: lambda.Code.fromInline("export const handler = async () => ({ batchItemFailures: [] });"),
    },
  });
  const template = Template.fromStack(stack);
  return { template, resources: template.toJSON().Resources };
}

const ofType = (resources: Record<string, Resource>, type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const json = (v: unknown) => JSON.stringify(v);

/** Every IAM statement attached to the role with this logical id (inline policies). */
function statementsOf(resources: Record<string, Resource>, roleLogicalId: string): any[] {
  return ofType(resources, "AWS::IAM::Policy")
    .filter(([, p]) => json(p.Properties.Roles).includes(`"${roleLogicalId}"`))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}
const actionsOf = (st: any): string[] => [st.Action].flat();
function roleWhoseNameContains(resources: Record<string, Resource>, fragment: string): string {
  const ids = ofType(resources, "AWS::IAM::Role").map(([id]) => id).filter((id) => id.includes(fragment));
  expect(ids, `one role matching ${fragment}`).toHaveLength(1);
  return ids[0]!;
}
function logicalId(resources: Record<string, Resource>, type: string, fragment: string): string {
  const ids = ofType(resources, type).map(([id]) => id).filter((id) => id.includes(fragment));
  expect(ids, `one ${type} matching ${fragment}`).toHaveLength(1);
  return ids[0]!;
}

let main: ReturnType<typeof synth>;
let open: ReturnType<typeof synth>;
const SMALL = "wan2_1-t2v-1_3b";
const BIG = "wan2_1-t2v-14b";

beforeAll(() => {
  main = synth(parseSettings({ models: "wan2.1-t2v-1.3b,wan2.1-t2v-14b", alarmEmail: "ops@example.org", idleMinutesToZero: "10", maxJobAgeS: "900" }));
  open = synth(parseSettings({ models: "wan2.1-t2v-1.3b", publicReadPrefix: "jobs/files/", workers: JSON.stringify({ "wan2.1-t2v-1.3b": { minTasks: 1, instanceType: "g6e.2xlarge", spot: true } }) }));
});

describe("job queues", () => {
  it("derive the lease from the worker's heartbeat constants", () => {
    expect(HEARTBEAT_INTERVAL_S * 2).toBeLessThanOrEqual(VISIBILITY_TIMEOUT_S);
  });

  it("give each model its own queue with a dead-letter queue after MAX_RECEIVES deliveries", () => {
    for (const slug of [SMALL, BIG]) {
      const dlq = logicalId(main.resources, "AWS::SQS::Queue", `Queue${slug.replace(/[^A-Za-z0-9]/g, "")}DeadLetters`);
      main.template.hasResourceProperties("AWS::SQS::Queue", {
        QueueName: `turbowan-jobs-${slug}`,
        VisibilityTimeout: VISIBILITY_TIMEOUT_S,
        RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": [dlq, "Arn"] }, maxReceiveCount: MAX_RECEIVES },
        SqsManagedSseEnabled: true,
      });
      main.template.hasResourceProperties("AWS::SQS::Queue", { QueueName: `turbowan-jobs-${slug}-dlq`, MessageRetentionPeriod: 14 * 24 * 3600 });
    }
  });

  it("gives the intake queue a short lease (6× the router timeout) and its own dead-letter queue", () => {
    main.template.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: "turbowan-jobs",
      VisibilityTimeout: 60,
      RedrivePolicy: { maxReceiveCount: MAX_RECEIVES, deadLetterTargetArn: Match.anyValue() },
    });
    main.template.hasResourceProperties("AWS::Lambda::Function", { Timeout: 10, Handler: "index.handler" });
  });

  it("refuse plain-HTTP access", () => {
    const policies = ofType(main.resources, "AWS::SQS::QueuePolicy");
    expect(policies).toHaveLength(6);
    for (const [, p] of policies) expect(json(p.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
  });
});

describe("least-privilege IAM", () => {
  it("has no wildcard actions on the app's roles", () => {
    for (const [, p] of ofType(main.resources, "AWS::IAM::Policy")) {
      for (const st of p.Properties.PolicyDocument.Statement) {
        for (const a of actionsOf(st)) expect(a, json(st)).not.toMatch(/^(\*|s3:\*|sqs:\*|secretsmanager:\*)$/);
      }
    }
  });

  it("lets the ingress only send to the intake queue, use the jobs prefix and read its secret", () => {
    const role = roleWhoseNameContains(main.resources, "IngressFunctionServiceRole");
    const statements = statementsOf(main.resources, role);
    const sqsActions = statements.flatMap(actionsOf).filter((a) => a.startsWith("sqs:"));
    expect(sqsActions).toEqual(["sqs:SendMessage"]);
    const intake = logicalId(main.resources, "AWS::SQS::Queue", "IngressIntakeQueue");
    expect(statements.find((s) => actionsOf(s).includes("sqs:SendMessage")).Resource).toEqual({ "Fn::GetAtt": [intake, "Arn"] });
    for (const st of statements.filter((s) => actionsOf(s).some((a) => a.startsWith("s3:")))) {
      expect(json(st)).toMatch(/\/jobs\/\*|"s3:prefix":\["jobs\/\*"\]/);
      expect(json(st)).not.toContain("models/");
    }
    expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith("secretsmanager:"))).flatMap(actionsOf)).toEqual(["secretsmanager:GetSecretValue"]);
  });

  it("lets each worker receive/delete/extend only on its own queue, write only the jobs prefix, read the checkpoints", () => {
    for (const [slug, other] of [[SMALL, BIG], [BIG, SMALL]] as const) {
      const id = slug.replace(/[^A-Za-z0-9]/g, "");
      const role = roleWhoseNameContains(main.resources, `Workers${id}TaskTaskRole`);
      const statements = statementsOf(main.resources, role);
      const own = logicalId(main.resources, "AWS::SQS::Queue", `Queue${id}Queue`);
      const sqsStatements = statements.filter((s) => actionsOf(s).some((a) => a.startsWith("sqs:")));
      expect(sqsStatements).toHaveLength(1);
      expect(actionsOf(sqsStatements[0]).sort()).toEqual(["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]);
      expect(sqsStatements[0].Resource).toEqual({ "Fn::GetAtt": [own, "Arn"] });
      expect(json(statements)).not.toContain(`Queue${other.replace(/[^A-Za-z0-9]/g, "")}`);
      const writes = statements.filter((s) => actionsOf(s).includes("s3:PutObject"));
      expect(writes).toHaveLength(1);
      expect(json(writes[0].Resource)).toContain("/jobs/*");
      const modelReads = statements.filter((s) => json(s.Resource).includes("/models/*"));
      expect(modelReads.flatMap(actionsOf)).toEqual(["s3:GetObject"]);
    }
  });

  it("lets the router consume the intake queue and only send to the model queues", () => {
    const role = roleWhoseNameContains(main.resources, "IngressRouterServiceRole");
    const sends = statementsOf(main.resources, role).filter((s) => actionsOf(s).includes("sqs:SendMessage"));
    expect(sends.map((s) => s.Resource["Fn::GetAtt"][0]).sort()).toEqual(
      [logicalId(main.resources, "AWS::SQS::Queue", "Queuewan21t2v13bQueue"), logicalId(main.resources, "AWS::SQS::Queue", "Queuewan21t2v14bQueue")].sort(),
    );
    main.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", { BatchSize: 10, FunctionResponseTypes: ["ReportBatchItemFailures"] });
  });
});

describe("GPU worker scaling", () => {
  it("lets each service scale between 0 and its maximum", () => {
    main.template.resourceCountIs("AWS::ApplicationAutoScaling::ScalableTarget", 2);
    main.template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", { MinCapacity: 0, MaxCapacity: 4, ScalableDimension: "ecs:service:DesiredCount" });
    main.template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", { MinCapacity: 0, MaxCapacity: 2 });
    open.template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", { MinCapacity: 1 });
  });

  it("tracks backlog per task with metric math over the queue and the running task count", () => {
    main.template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", {
      PolicyType: "TargetTrackingScaling",
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 6,
        CustomizedMetricSpecification: {
          Metrics: Match.arrayWith([
            Match.objectLike({ Id: "visible", MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: "ApproximateNumberOfMessagesVisible" }) }) }),
            Match.objectLike({ Id: "tasks", MetricStat: Match.objectLike({ Metric: Match.objectLike({ Namespace: "ECS/ContainerInsights", MetricName: "RunningTaskCount" }) }) }),
            Match.objectLike({ Id: "backlogPerTask", Expression: "visible / IF(tasks > 0, tasks, 1)", ReturnData: true }),
          ]),
        },
      }),
    });
    main.template.hasResourceProperties("AWS::ECS::Cluster", { ClusterSettings: [{ Name: "containerInsights", Value: "enabled" }] });
  });

  it("starts the first task with a step policy on 'jobs waiting, no task wanted'", () => {
    const policy = logicalId(main.resources, "AWS::ApplicationAutoScaling::ScalingPolicy", "Workerswan21t2v13bScaleOutFromZero");
    expect(main.resources[policy]!.Properties).toMatchObject({
      PolicyType: "StepScaling",
      StepScalingPolicyConfiguration: { AdjustmentType: "ExactCapacity", StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] },
    });
    const alarm = ofType(main.resources, "AWS::CloudWatch::Alarm").find(([, a]) => json(a.Properties.AlarmActions ?? []).includes(policy));
    expect(alarm, "an alarm drives the 0→1 policy").toBeDefined();
    expect(json(alarm![1].Properties.Metrics)).toContain("IF(FILL(desired, 0) < 1, visible, 0)");
    expect(json(alarm![1].Properties.Metrics)).toContain("DesiredTaskCount");
    expect(alarm![1].Properties).toMatchObject({ Threshold: 1, ComparisonOperator: "GreaterThanOrEqualToThreshold", EvaluationPeriods: 1 });
  });

  it("scales in to zero after the queue stayed empty for idleMinutesToZero", () => {
    const policy = logicalId(main.resources, "AWS::ApplicationAutoScaling::ScalingPolicy", "Workerswan21t2v14bScaleInToZero");
    expect(main.resources[policy]!.Properties.StepScalingPolicyConfiguration).toMatchObject({
      AdjustmentType: "ExactCapacity",
      StepAdjustments: [{ MetricIntervalUpperBound: 0, ScalingAdjustment: 0 }],
    });
    const alarm = ofType(main.resources, "AWS::CloudWatch::Alarm").find(([, a]) => json(a.Properties.AlarmActions ?? []).includes(policy));
    expect(alarm).toBeDefined();
    expect(alarm![1].Properties).toMatchObject({ Threshold: 0, ComparisonOperator: "LessThanOrEqualToThreshold", EvaluationPeriods: 10, DatapointsToAlarm: 10 });
    // In-flight messages count as work: a running job keeps its worker.
    expect(json(alarm![1].Properties.Metrics)).toContain("ApproximateNumberOfMessagesNotVisible");
  });

  it("runs one GPU task per instance from the ECS GPU AMI on a protected capacity provider", () => {
    main.template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      ContainerDefinitions: [
        Match.objectLike({
          Command: ["worker"],
          ResourceRequirements: [{ Type: "GPU", Value: "1" }],
          StopTimeout: 120,
          HealthCheck: Match.objectLike({ Command: ["CMD", "/app/container/healthcheck.sh"] }),
          Environment: Match.arrayWith([{ Name: "TURBOWAN_QUEUE", Value: "sqs" }, { Name: "TURBOWAN_MODELS", Value: "wan2.1-t2v-1.3b" }, { Name: "TURBOWAN_BACKEND", Value: "cuda" }]),
          Secrets: Match.arrayWith([Match.objectLike({ Name: "DISCORD_BOT_TOKEN" }), Match.objectLike({ Name: "GITHUB_PRIVATE_KEY" })]),
        }),
      ],
    });
    main.template.hasResourceProperties("AWS::ECS::CapacityProvider", {
      AutoScalingGroupProvider: Match.objectLike({ ManagedTerminationProtection: "ENABLED", ManagedScaling: Match.objectLike({ Status: "ENABLED", TargetCapacity: 100 }) }),
    });
    main.template.hasResourceProperties("AWS::EC2::LaunchTemplate", { LaunchTemplateData: Match.objectLike({ InstanceType: "g6e.xlarge", MetadataOptions: { HttpTokens: "required" } }) });
    main.template.hasResourceProperties("AWS::EC2::LaunchTemplate", { LaunchTemplateData: Match.objectLike({ InstanceType: "p5.4xlarge" }) });
    // The host's checkpoint cache is writable by the image's non-root user, and the instance joins the cluster.
    const userData = json(ofType(main.resources, "AWS::EC2::LaunchTemplate")[0]![1].Properties.LaunchTemplateData.UserData);
    expect(userData).toContain("chown 10001:10001 /var/lib/turbowan/models");
    expect(userData).toContain("ECS_CLUSTER=");
    expect(read("container/Dockerfile")).toContain("--uid 10001");
    expect(json(main.template.toJSON().Parameters)).toContain("/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id");
    main.template.hasResourceProperties("AWS::AutoScaling::AutoScalingGroup", { MinSize: "0", MaxSize: "4", NewInstancesProtectedFromScaleIn: true });
    main.template.hasResourceProperties("AWS::ECS::Service", { DesiredCount: 0, CapacityProviderStrategy: [Match.objectLike({ Weight: 1 })] });
    open.template.hasResourceProperties("AWS::EC2::LaunchTemplate", {
      LaunchTemplateData: Match.objectLike({ InstanceType: "g6e.2xlarge", InstanceMarketOptions: Match.objectLike({ MarketType: "spot" }) }),
    });
    expect(json(ofType(open.resources, "AWS::EC2::LaunchTemplate")[0]![1].Properties.LaunchTemplateData.UserData)).toContain("ECS_ENABLE_SPOT_INSTANCE_DRAINING=true");
    for (const [, lt] of ofType(main.resources, "AWS::EC2::LaunchTemplate")) expect(lt.Properties.LaunchTemplateData.InstanceMarketOptions).toBeUndefined();
  });

  it("points each worker at its own queue and dead-letter queue", () => {
    const td = ofType(main.resources, "AWS::ECS::TaskDefinition").find(([id]) => id.includes("wan21t2v14b"))!;
    const env = Object.fromEntries(td[1].Properties.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, e.Value]));
    expect(env.TURBOWAN_SQS_QUEUE_URL).toEqual({ Ref: logicalId(main.resources, "AWS::SQS::Queue", "Queuewan21t2v14bQueue") });
    expect(env.TURBOWAN_SQS_DLQ_URL).toEqual({ Ref: logicalId(main.resources, "AWS::SQS::Queue", "Queuewan21t2v14bDeadLetters") });
    expect(env.TURBOWAN_S3_PREFIX).toBe("jobs/");
  });
});

describe("alarms", () => {
  it("alarm on any dead-lettered job and on old jobs, for every queue, and notify by email", () => {
    const alarms = ofType(main.resources, "AWS::CloudWatch::Alarm").map(([, a]) => a.Properties);
    const dlq = alarms.filter((a) => a.MetricName === "ApproximateNumberOfMessagesVisible" && json(a.Dimensions).includes("DeadLetters"));
    expect(dlq).toHaveLength(3); // two models + intake
    for (const a of dlq) expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: "GreaterThanOrEqualToThreshold" });
    const age = alarms.filter((a) => a.MetricName === "ApproximateAgeOfOldestMessage");
    expect(age.map((a) => a.Threshold).sort()).toEqual([120, 900, 900]);
    const topic = logicalId(main.resources, "AWS::SNS::Topic", "Alarms");
    for (const a of [...dlq, ...age]) expect(a.AlarmActions).toEqual([{ Ref: topic }]);
    main.template.hasResourceProperties("AWS::SNS::Subscription", { Protocol: "email", Endpoint: "ops@example.org" });
  });
});

describe("artifact bucket", () => {
  it("is encrypted, private, TLS-only and expires job objects", () => {
    main.template.hasResourceProperties("AWS::S3::Bucket", {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: "jobs/", ExpirationInDays: 14, Status: "Enabled" })]) },
    });
    const policy = ofType(main.resources, "AWS::S3::BucketPolicy")[0]![1];
    expect(json(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    const allows = policy.Properties.PolicyDocument.Statement.filter((st: any) => st.Effect === "Allow");
    expect(allows.filter((st: any) => json(st.Principal) === '{"AWS":"*"}')).toEqual([]);
  });

  it("opens only the configured results prefix to public reads when asked", () => {
    open.template.hasResourceProperties("AWS::S3::Bucket", {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: false, RestrictPublicBuckets: false },
    });
    const statements = ofType(open.resources, "AWS::S3::BucketPolicy")[0]![1].Properties.PolicyDocument.Statement;
    const pub = statements.filter((s: any) => s.Effect === "Allow" && json(s.Principal) === '{"AWS":"*"}');
    expect(pub).toHaveLength(1);
    expect(pub[0].Action).toBe("s3:GetObject");
    expect(json(pub[0].Resource)).toContain("/jobs/files/*");
  });
});

describe("ingress", () => {
  it("is a Lambda behind a public function URL, sending to the intake queue with its secret's id", () => {
    main.template.hasResourceProperties("AWS::Lambda::Url", { AuthType: "NONE" });
    const intake = logicalId(main.resources, "AWS::SQS::Queue", "IngressIntakeQueue");
    main.template.hasResourceProperties("AWS::Lambda::Function", {
      PackageType: "Image",
      Environment: {
        Variables: Match.objectLike({
          TURBOWAN_QUEUE: "sqs",
          TURBOWAN_SQS_QUEUE_URL: { Ref: intake },
          TURBOWAN_STORE: "s3",
          TURBOWAN_MODELS: "wan2.1-t2v-1.3b,wan2.1-t2v-14b",
          TURBOWAN_SECRETS_ID: Match.anyValue(),
        }),
      },
    });
  });

  it("routes each model to its queue", () => {
    const router = ofType(main.resources, "AWS::Lambda::Function").find(([id]) => id.includes("Router"))!;
    const routes = router[1].Properties.Environment.Variables.ROUTES;
    expect(json(routes)).toContain("wan2.1-t2v-1.3b");
    expect(json(routes)).toContain(logicalId(main.resources, "AWS::SQS::Queue", "Queuewan21t2v14bQueue"));
  });
});

describe("deploy settings", () => {
  it("default to the 1.3B model on g6e.xlarge, scaling to zero", () => {
    const s = parseSettings({});
    expect(s.models).toEqual(["wan2.1-t2v-1.3b"]);
    expect(s.workers["wan2.1-t2v-1.3b"]).toMatchObject({ instanceType: "g6e.xlarge", minTasks: 0 });
  });

  it("in infra/cdk.json are valid and all read by the app", () => {
    const cdkJson = JSON.parse(read("infra/cdk.json"));
    expect(cdkJson.app).toBe("npx tsx bin/app.ts");
    expect(() => parseSettings(cdkJson.context)).not.toThrow();
    const app = read("infra/bin/app.ts");
    for (const key of Object.keys(cdkJson.context)) expect(app, `bin/app.ts reads context "${key}"`).toContain(`"${key}"`);
  });

  it("say what to fix", () => {
    expect(() => parseSettings({ models: "wan9" })).toThrow(/comma list of/);
    expect(() => parseSettings({ workers: "{not json" })).toThrow(/must be JSON/);
    expect(() => parseSettings({ workers: { "wan2.1-t2v-14b": { maxTasks: 1 } } })).toThrow(/not in "models"/);
    expect(() => parseSettings({ workers: { "wan2.1-t2v-1.3b": { minTasks: 3, maxTasks: 2 } } })).toThrow(/minTasks/);
    expect(() => parseSettings({ workers: { "wan2.1-t2v-1.3b": { instanceType: "x9.huge" } } })).toThrow(/memoryMiB/);
    expect(() => parseSettings({ publicReadPrefix: "models/" })).toThrow(/must lie under jobs\/files\//);
    expect(() => parseSettings({ publicReadPrefix: "jobs/" })).toThrow(/records and markers must stay private/);
  });
});
