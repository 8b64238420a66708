// The artifact bucket: job records, markers, input images and result videos under jobsPrefix
// (expiring), checkpoints under modelsPrefix (kept). Private by default: results are shared through
// presigned URLs the store signs; with publicReadPrefix set, objects under that prefix (results
// only) are readable by anyone and the store can hand out plain URLs.
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";

export interface ArtifactBucketProps {
  jobsPrefix: string;
  modelsPrefix: string;
  expiryDays: number;
  publicReadPrefix?: string;
}

export class ArtifactBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ArtifactBucketProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, "Bucket", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // ACLs stay blocked either way; only the bucket policy may open the results prefix.
      blockPublicAccess: props.publicReadPrefix
        ? new s3.BlockPublicAccess({ blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: false, restrictPublicBuckets: false })
        : s3.BlockPublicAccess.BLOCK_ALL,
      lifecycleRules: [
        { id: "expire-jobs", prefix: props.jobsPrefix, expiration: Duration.days(props.expiryDays) },
        { id: "abort-uploads", abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      // Browsers fetch result videos (range requests) from other origins: the web console, Discord.
      cors: [{ allowedMethods: [s3.HttpMethods.GET, s3.HttpMethods.HEAD], allowedOrigins: ["*"], allowedHeaders: ["Range"], exposedHeaders: ["Content-Range", "Content-Length", "ETag"] }],
      // Checkpoints take hours to upload again: keep the bucket if the stack goes.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (props.publicReadPrefix) {
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: "PublicReadResults",
          principals: [new iam.AnyPrincipal()],
          actions: ["s3:GetObject"],
          resources: [this.bucket.arnForObjects(`${props.publicReadPrefix}*`)],
        }),
      );
    }
  }

  /** Read/write/delete objects under one prefix and list only that prefix: nothing else in the bucket. */
  grantPrefixReadWrite(grantee: iam.IGrantable, prefix: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources: [this.bucket.arnForObjects(`${prefix}*`)] }),
    );
    this.grantPrefixList(grantee, prefix);
  }

  grantPrefixRead(grantee: iam.IGrantable, prefix: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["s3:GetObject"], resources: [this.bucket.arnForObjects(`${prefix}*`)] }));
    this.grantPrefixList(grantee, prefix);
  }

  private grantPrefixList(grantee: iam.IGrantable, prefix: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ["s3:ListBucket"], resources: [this.bucket.bucketArn], conditions: { StringLike: { "s3:prefix": [`${prefix}*`] } } }),
    );
  }
}
