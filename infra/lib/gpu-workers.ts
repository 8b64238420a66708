// One model's GPU workers: an ECS service on its own EC2 capacity provider (ECS GPU-optimized AMI,
// one GPU task per instance) that follows its own queue:
//  - target tracking on backlog per task = visible messages ÷ running tasks (metric math), the
//    AWS-recommended signal for queue workers;
//  - a step policy for 0 → 1: with no task the ratio is undefined, so an alarm on "messages waiting
//    and no task wanted" sets the desired count to 1;
//  - a step policy to 0 once the queue has been empty (nothing visible, in flight or delayed) for
//    idleMinutesToZero; the capacity provider then drains the instance.
// A task running a job protects itself from scale-in through the ECS agent
// (functions/cloud/ecs-protection.ts), and the capacity provider's managed termination protection
// keeps the instance under it.
import { Duration } from "aws-cdk-lib";
import * as appscaling from "aws-cdk-lib/aws-applicationautoscaling";
import * as autoscaling from "aws-cdk-lib/aws-autoscaling";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwactions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import type { ArtifactBucket } from "./artifacts.js";
import { taskMemoryMiB, type WorkerSettings } from "./config.js";
import type { JobQueue } from "./queues.js";

/** Keys of the app secret injected into worker containers (replies to Discord and GitHub). */
export const WORKER_SECRET_KEYS = ["DISCORD_APPLICATION_ID", "DISCORD_PUBLIC_KEY", "DISCORD_BOT_TOKEN", "GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET"] as const;

/** Where the instance keeps fetched checkpoints, so a replaced task on the same host skips the download. */
export const HOST_MODELS_DIR = "/var/lib/turbowan/models";
/** The worker image's user (container/Dockerfile: useradd --uid 10001). */
export const CONTAINER_UID = 10001;

export interface GpuWorkersProps {
  model: string;
  /** A short name for resource names (letters, digits, -). */
  slug: string;
  settings: WorkerSettings;
  cluster: ecs.Cluster;
  vpc: ec2.IVpc;
  image: ecs.ContainerImage;
  jobQueue: JobQueue;
  artifacts: ArtifactBucket;
  jobsPrefix: string;
  modelsPrefix: string;
  secret: secretsmanager.ISecret;
  publicUrl?: string;
  idleMinutesToZero: number;
  logLevel: string;
}

export class GpuWorkers extends Construct {
  readonly service: ecs.Ec2Service;
  readonly taskDefinition: ecs.Ec2TaskDefinition;
  readonly capacityProvider: ecs.AsgCapacityProvider;
  readonly scalingTarget: appscaling.ScalableTarget;

  constructor(scope: Construct, id: string, props: GpuWorkersProps) {
    super(scope, id);
    const { settings, jobQueue } = props;
    const queue = jobQueue.queue;

    const securityGroup = new ec2.SecurityGroup(this, "InstanceSg", {
      vpc: props.vpc,
      description: `turbowan ${props.model} GPU workers: no inbound, outbound to AWS APIs and model hubs`,
      allowAllOutbound: true,
    });
    // The checkpoint cache on the host belongs to the image's non-root user (uid 10001 in
    // container/Dockerfile); Docker would otherwise create the bind-mount source owned by root.
    const userData = ec2.UserData.forLinux();
    userData.addCommands(`mkdir -p ${HOST_MODELS_DIR}`, `chown ${CONTAINER_UID}:${CONTAINER_UID} ${HOST_MODELS_DIR}`);
    // On a Spot interruption notice the agent drains the instance: the worker gets SIGTERM and hands
    // its job back to the queue within the two-minute warning.
    if (settings.spot) userData.addCommands("echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config");
    const launchTemplate = new ec2.LaunchTemplate(this, "LaunchTemplate", {
      machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.GPU),
      instanceType: new ec2.InstanceType(settings.instanceType),
      requireImdsv2: true,
      securityGroup,
      associatePublicIpAddress: true,
      role: new iam.Role(this, "InstanceRole", {
        assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com"),
        managedPolicies: [
          iam.ManagedPolicy.fromAwsManagedPolicyName("service-role/AmazonEC2ContainerServiceforEC2Role"),
          iam.ManagedPolicy.fromAwsManagedPolicyName("AmazonSSMManagedInstanceCore"),
        ],
      }),
      blockDevices: [{ deviceName: "/dev/xvda", volume: ec2.BlockDeviceVolume.ebs(settings.diskGiB, { volumeType: ec2.EbsDeviceVolumeType.GP3, encrypted: true }) }],
      userData,
      ...(settings.spot ? { spotOptions: { requestType: ec2.SpotRequestType.ONE_TIME } } : {}),
    });
    const asg = new autoscaling.AutoScalingGroup(this, "Instances", {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      launchTemplate,
      minCapacity: 0,
      maxCapacity: settings.maxTasks,
    });
    this.capacityProvider = new ecs.AsgCapacityProvider(this, "Capacity", {
      autoScalingGroup: asg,
      enableManagedScaling: true,
      targetCapacityPercent: 100,
      enableManagedTerminationProtection: true,
      // GPU instances take minutes to boot and pull the image; do not count them short.
      instanceWarmupPeriod: 300,
    });
    props.cluster.addAsgCapacityProvider(this.capacityProvider);

    this.taskDefinition = new ecs.Ec2TaskDefinition(this, "Task", {
      networkMode: ecs.NetworkMode.BRIDGE,
      volumes: [{ name: "models", host: { sourcePath: HOST_MODELS_DIR } }],
    });
    const container = this.taskDefinition.addContainer("worker", {
      image: props.image,
      command: ["worker"],
      gpuCount: 1,
      memoryReservationMiB: taskMemoryMiB(settings),
      // SIGTERM → the worker stops polling and finishes or releases its job (grace 90 s) → SIGKILL.
      stopTimeout: Duration.seconds(120),
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: props.slug,
        logGroup: new logs.LogGroup(this, "Logs", { retention: logs.RetentionDays.ONE_MONTH }),
      }),
      environment: {
        TURBOWAN_QUEUE: "sqs",
        TURBOWAN_SQS_QUEUE_URL: queue.queueUrl,
        TURBOWAN_SQS_DLQ_URL: jobQueue.deadLetterQueue.queueUrl,
        TURBOWAN_STORE: "s3",
        TURBOWAN_S3_BUCKET: props.artifacts.bucket.bucketName,
        TURBOWAN_S3_PREFIX: props.jobsPrefix,
        TURBOWAN_MODELS: props.model,
        TURBOWAN_MODELS_DIR: "/models",
        TURBOWAN_DATA_DIR: "/data",
        TURBOWAN_BACKEND: "cuda",
        TURBOWAN_WEIGHTS_FROM: `s3://${props.artifacts.bucket.bucketName}/${props.modelsPrefix.replace(/\/$/, "")}`,
        ...(settings.quant ? { TURBOWAN_WEIGHTS_QUANT: "1" } : {}),
        ...(props.publicUrl ? { TURBOWAN_PUBLIC_URL: props.publicUrl } : {}),
        LOG_LEVEL: props.logLevel,
      },
      secrets: Object.fromEntries(WORKER_SECRET_KEYS.map((k) => [k, ecs.Secret.fromSecretsManager(props.secret, k)])),
      healthCheck: {
        command: ["CMD", "/app/container/healthcheck.sh"],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        // The longest ECS allows; weights still downloading keep the heartbeat fresh themselves.
        startPeriod: Duration.seconds(300),
      },
    });
    container.addMountPoints({ containerPath: "/models", sourceVolume: "models", readOnly: false });

    // Least privilege: this model's queue only (no send, no purge), the jobs prefix read/write,
    // the checkpoints read-only.
    const taskRole = this.taskDefinition.taskRole;
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
        resources: [queue.queueArn],
      }),
    );
    props.artifacts.grantPrefixReadWrite(taskRole, props.jobsPrefix);
    props.artifacts.grantPrefixRead(taskRole, props.modelsPrefix);

    this.service = new ecs.Ec2Service(this, "Service", {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      capacityProviderStrategies: [{ capacityProvider: this.capacityProvider.capacityProviderName, weight: 1 }],
      // Autoscaling owns the count after the first deploy (CloudFormation leaves it alone while this
      // value does not change).
      desiredCount: settings.minTasks,
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      circuitBreaker: { rollback: true },
      placementConstraints: [ecs.PlacementConstraint.distinctInstances()],
    });

    this.scalingTarget = new appscaling.ScalableTarget(this, "ScalingTarget", {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      resourceId: `service/${props.cluster.clusterName}/${this.service.serviceName}`,
      scalableDimension: "ecs:service:DesiredCount",
      minCapacity: settings.minTasks,
      maxCapacity: settings.maxTasks,
    });

    const visible = queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: "Maximum" });
    const inFlight = queue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: "Maximum" });
    const delayed = queue.metric("ApproximateNumberOfMessagesDelayed", { period: Duration.minutes(1), statistic: "Maximum" });
    const desired = new cloudwatch.Metric({
      namespace: "ECS/ContainerInsights",
      metricName: "DesiredTaskCount",
      dimensionsMap: { ClusterName: props.cluster.clusterName, ServiceName: this.service.serviceName },
      period: Duration.minutes(1),
      statistic: "Maximum",
    });

    // 1) Backlog per task (target tracking; metric math is only in the L1 resource).
    new appscaling.CfnScalingPolicy(this, "BacklogPerTask", {
      policyName: `${props.slug}-backlog-per-task`,
      policyType: "TargetTrackingScaling",
      scalingTargetId: this.scalingTarget.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: settings.targetBacklogPerTask,
        scaleOutCooldown: 60,
        // Scaling in stops tasks: wait for the backlog to stay low (running jobs are protected anyway).
        scaleInCooldown: 300,
        customizedMetricSpecification: {
          metrics: [
            { id: "visible", returnData: false, metricStat: { metric: { namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesVisible", dimensions: [{ name: "QueueName", value: queue.queueName }] }, stat: "Sum" } },
            { id: "tasks", returnData: false, metricStat: { metric: { namespace: "ECS/ContainerInsights", metricName: "RunningTaskCount", dimensions: [{ name: "ClusterName", value: props.cluster.clusterName }, { name: "ServiceName", value: this.service.serviceName }] }, stat: "Average" } },
            { id: "backlogPerTask", label: "jobs waiting per running task", returnData: true, expression: "visible / IF(tasks > 0, tasks, 1)" },
          ],
        },
      },
    });

    // 2) 0 → 1: jobs waiting and no task wanted. Keyed on the desired count (not the running one)
    // and setting an exact 1, so the alarm staying on while the first GPU instance boots neither
    // adds a task per minute nor undoes what target tracking asked for.
    const scaleFromZero = new appscaling.StepScalingAction(this, "ScaleOutFromZero", {
      scalingTarget: this.scalingTarget,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      cooldown: Duration.seconds(60),
    });
    scaleFromZero.addAdjustment({ adjustment: Math.max(1, settings.minTasks), lowerBound: 0 });
    const waitingWithoutWorkers = new cloudwatch.Alarm(this, "JobsWaitingNoWorkers", {
      alarmDescription: `${props.model}: jobs are waiting and no worker is wanted; start one.`,
      metric: new cloudwatch.MathExpression({
        expression: "IF(FILL(desired, 0) < 1, visible, 0)",
        usingMetrics: { visible, desired },
        period: Duration.minutes(1),
        label: "jobs waiting with no worker",
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    waitingWithoutWorkers.addAlarmAction(new cwactions.ApplicationScalingAction(scaleFromZero));

    // 3) → 0 after the queue stayed empty (nothing visible, in flight or delayed).
    const scaleToZero = new appscaling.StepScalingAction(this, "ScaleInToZero", {
      scalingTarget: this.scalingTarget,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      cooldown: Duration.seconds(60),
    });
    scaleToZero.addAdjustment({ adjustment: settings.minTasks, upperBound: 0 });
    const idle = new cloudwatch.Alarm(this, "QueueIdle", {
      alarmDescription: `${props.model}: the queue has been empty for ${props.idleMinutesToZero} minutes; scale workers to ${settings.minTasks}.`,
      metric: new cloudwatch.MathExpression({
        expression: "FILL(visible, 0) + FILL(inFlight, 0) + FILL(delayed, 0)",
        usingMetrics: { visible, inFlight, delayed },
        period: Duration.minutes(1),
        label: "jobs in the queue",
      }),
      threshold: 0,
      evaluationPeriods: props.idleMinutesToZero,
      datapointsToAlarm: props.idleMinutesToZero,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    idle.addAlarmAction(new cwactions.ApplicationScalingAction(scaleToZero));
  }
}
