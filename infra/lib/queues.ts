// A job queue with its dead-letter queue and the two alarms that matter: something dead-lettered,
// and jobs waiting too long. Timings come from functions/queue/constants.ts, the same numbers the
// worker heartbeats against, so the infrastructure and the consumer cannot drift apart.
import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { MAX_RECEIVES, VISIBILITY_TIMEOUT_S } from "../../functions/queue/constants.js";

export interface JobQueueProps {
  queueName: string;
  /** Lease of a received message; default the worker's VISIBILITY_TIMEOUT_S (heartbeats extend it). */
  visibilityTimeout?: Duration;
  /** Deliveries before dead-lettering; default MAX_RECEIVES. */
  maxReceiveCount?: number;
  /** Alarm when the oldest message is older than this. */
  maxAge: Duration;
}

export class JobQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetters", {
      queueName: `${props.queueName}-dlq`,
      // 14 days, the SQS maximum: time to inspect a poison job and redrive it.
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, "Queue", {
      queueName: props.queueName,
      visibilityTimeout: props.visibilityTimeout ?? Duration.seconds(VISIBILITY_TIMEOUT_S),
      // A job nobody took in a day is stale: its Discord token died after 15 minutes.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? MAX_RECEIVES },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.alarms = [
      new cloudwatch.Alarm(this, "DeadLettered", {
        alarmDescription: `A job in ${props.queueName} failed ${props.maxReceiveCount ?? MAX_RECEIVES} times and was dead-lettered; inspect ${props.queueName}-dlq.`,
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, "JobsWaiting", {
        alarmDescription: `The oldest job in ${props.queueName} has waited over ${props.maxAge.toSeconds()} s: workers are not keeping up or cannot start.`,
        metric: this.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: "Maximum" }),
        threshold: props.maxAge.toSeconds(),
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
  }
}
