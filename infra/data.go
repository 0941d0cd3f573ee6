package main

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticache"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	appcache "github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
)

// Names inside PostgreSQL. Every function but migrate connects as
// dbAppUser, the runtime role migrate creates (DML on the application's
// tables only), with an IAM token, so no secret of it exists. Migrate
// alone connects as dbUser, the instance's master user and the schema's
// owner, whose password is the generated master secret. Behind RDS
// Proxy, migrate too connects to the proxy with an IAM token, and the
// proxy signs in to the instance with the secret as dbUser and with IAM
// as dbAppUser (end to end); without the proxy, migrate sends the
// secret's password itself.
const (
	dbName    = "crm"
	dbUser    = "crm"
	dbAppUser = config.DatabaseAppRole
	// proxyPort is where RDS Proxy listens for PostgreSQL; it is fixed.
	proxyPort = 5432
	// instancePort is the instance's own port: not the engine default, so
	// a scan of the VPC for 5432 finds nothing but a proxy.
	instancePort = 5433
	cachePort    = 6379
)

// database is PostgreSQL, behind RDS Proxy when the stage has one.
type database struct {
	instance awsrds.DatabaseInstance
	// proxy is nil when the functions connect to the instance.
	proxy awsrds.DatabaseProxy
	// ownerURL is migrate's DATABASE_URL and appURL every other
	// function's: the proxy's or the instance's endpoint with TLS
	// verified and no password, as dbUser and dbAppUser.
	ownerURL, appURL *string
	// network is what must be in place before a function reaches the
	// database: the security groups and their rules.
	network []constructs.Construct
}

// grantConnect lets grantee connect as user with an IAM token: to the
// proxy, or to the instance (rds-db:connect on its resource id).
func (d *database) grantConnect(grantee awsiam.IGrantable, user string) {
	if d.proxy != nil {
		d.proxy.GrantConnect(grantee, jsii.String(user))
		return
	}
	d.instance.GrantConnect(grantee, jsii.String(user))
}

// passwordSignIn reports whether user signs in with the master secret's
// password rather than an IAM token: the master user, without a proxy.
func (d *database) passwordSignIn(user string) bool {
	return d.proxy == nil && user == dbUser
}

func newDatabase(scope constructs.Construct, s Settings, net *network) *database {
	prefix := "crm-" + s.Stage

	reachedBy := "the functions and the secret rotation function"
	if s.DBProxy {
		reachedBy = "RDS Proxy and the secret rotation function"
	}
	instanceSG := awsec2.NewSecurityGroup(scope, jsii.String("DatabaseSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              net.vpc,
		Description:      jsii.String("PostgreSQL instance: reached only by " + reachedBy),
		AllowAllOutbound: jsii.Bool(false),
	})

	// The instance writes its PostgreSQL log here; made ahead so its
	// retention is set without a log-retention custom resource.
	instanceID := prefix
	pgLog := awslogs.NewLogGroup(scope, jsii.String("DatabaseLog"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(fmt.Sprintf("/aws/rds/instance/%s/postgresql", instanceID)),
		Retention:     s.LogRetention,
		RemovalPolicy: s.RemovalPolicy,
	})

	instance := awsrds.NewDatabaseInstance(scope, jsii.String("Database"), &awsrds.DatabaseInstanceProps{
		Engine: awsrds.DatabaseInstanceEngine_Postgres(&awsrds.PostgresInstanceEngineProps{
			Version: awsrds.PostgresEngineVersion_VER_16(),
		}),
		InstanceIdentifier:        jsii.String(instanceID),
		InstanceType:              s.DBInstanceType,
		Vpc:                       net.vpc,
		VpcSubnets:                net.private,
		SecurityGroups:            &[]awsec2.ISecurityGroup{instanceSG},
		Port:                      jsii.Number(instancePort),
		DatabaseName:              jsii.String(dbName),
		Credentials:               awsrds.Credentials_FromGeneratedSecret(jsii.String(dbUser), &awsrds.CredentialsBaseOptions{SecretName: jsii.String(prefix + "/database")}),
		IamAuthentication:         jsii.Bool(true),
		StorageEncrypted:          jsii.Bool(true),
		StorageType:               awsrds.StorageType_GP3,
		AllocatedStorage:          jsii.Number(s.DBAllocatedGB),
		MaxAllocatedStorage:       jsii.Number(s.DBMaxAllocatedGB),
		MultiAz:                   jsii.Bool(s.DBMultiAZ),
		BackupRetention:           awscdk.Duration_Hours(jsii.Number(s.DBBackupRetention.Hours())),
		DeleteAutomatedBackups:    jsii.Bool(!s.DeletionProtection),
		DeletionProtection:        jsii.Bool(s.DeletionProtection),
		RemovalPolicy:             s.dbRemovalPolicy(),
		AutoMinorVersionUpgrade:   jsii.Bool(true),
		CopyTagsToSnapshot:        jsii.Bool(true),
		CloudwatchLogsExports:     &[]*string{jsii.String("postgresql")},
		EnablePerformanceInsights: jsii.Bool(s.DBPerformanceInsights),
		Parameters:                dbParameters(s),
	})
	instance.Node().DefaultChild().Node().AddDependency(pgLog)

	// The master password rotates monthly. The rotation function runs in
	// the private subnets and is admitted to the instance's port by the
	// construct. The proxy, or migrate, reads the current value.
	instance.AddRotationSingleUser(&awsrds.RotationSingleUserOptions{
		AutomaticallyAfter: awscdk.Duration_Days(jsii.Number(s.DBSecretRotation.Hours() / 24)),
		VpcSubnets:         net.private,
	})

	if !s.DBProxy {
		// The functions reach the instance's port, and nothing else does
		// but the rotation function. The instance's certificate is signed
		// by the RDS certificate authorities, which sslrootcert=rds makes
		// shared/db trust (they are not in the system's trust store).
		instanceSG.AddIngressRule(net.functions, awsec2.Port_Tcp(jsii.Number(instancePort)),
			jsii.String("Functions to PostgreSQL"), nil)
		url := func(user string) *string {
			return awscdk.Fn_Join(jsii.String(""), &[]*string{
				jsii.String("postgres://" + user + "@"),
				instance.DbInstanceEndpointAddress(),
				jsii.String(fmt.Sprintf(":%d/%s?sslmode=verify-full&sslrootcert=%s", instancePort, dbName, db.RDSRootCert)),
			})
		}
		return &database{instance: instance, ownerURL: url(dbUser), appURL: url(dbAppUser),
			network: []constructs.Construct{instanceSG, net.functions}}
	}

	proxySG := awsec2.NewSecurityGroup(scope, jsii.String("ProxySecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:         net.vpc,
		Description: jsii.String("RDS Proxy: reached only by the functions"),
		// The proxy reaches the instance and Secrets Manager.
		AllowAllOutbound: jsii.Bool(true),
	})
	proxySG.AddIngressRule(net.functions, awsec2.Port_Tcp(jsii.Number(proxyPort)),
		jsii.String("Functions to RDS Proxy"), nil)

	// The proxy's role reads the master secret (granted by the proxy
	// construct) and signs in to the instance as the runtime role with IAM.
	proxyRole := awsiam.NewRole(scope, jsii.String("ProxyRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("rds.amazonaws.com"), nil),
		Description: jsii.String("RDS Proxy: reads the master secret, signs in to the instance as " + dbAppUser + " with IAM"),
	})
	instance.GrantConnect(proxyRole, jsii.String(dbAppUser))
	proxy := awsrds.NewDatabaseProxy(scope, jsii.String("Proxy"), &awsrds.DatabaseProxyProps{
		ProxyTarget: awsrds.ProxyTarget_FromInstance(instance),
		// The master user, for migrate only, signs in with the secret;
		// every other user end to end with IAM.
		Secrets:           &[]awssecretsmanager.ISecret{instance.Secret()},
		DefaultAuthScheme: awsrds.DefaultAuthScheme_IAM_AUTH,
		Role:              proxyRole,
		DbProxyName:       jsii.String(prefix),
		Vpc:               net.vpc,
		VpcSubnets:        net.private,
		SecurityGroups:    &[]awsec2.ISecurityGroup{proxySG},
		RequireTLS:        jsii.Bool(true),
		IamAuth:           jsii.Bool(true),
	})
	// The proxy construct admits proxySG to the instance's port itself.

	url := func(user string) *string {
		return awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("postgres://" + user + "@"),
			proxy.Endpoint(),
			jsii.String(fmt.Sprintf(":%d/%s?sslmode=verify-full", proxyPort, dbName)),
		})
	}
	return &database{instance: instance, proxy: proxy, ownerURL: url(dbUser), appURL: url(dbAppUser),
		network: []constructs.Construct{instanceSG, proxySG, net.functions}}
}

// idleSessionTimeout ends a session idle that long, on an instance the
// functions connect to directly: a frozen Lambda environment keeps its
// connections open, and without a proxy in between each counts against
// the instance's max_connections until the environment is reaped, which
// may take hours. It matches shared/db's idle time in a Lambda; a
// connection ended this way is dropped by the pool when the environment
// thaws, before a statement is sent on it.
const idleSessionTimeout = 5 * time.Minute

// dbParameters are the instance's parameters.
func dbParameters(s Settings) *map[string]*string {
	p := map[string]*string{
		// Refuse unencrypted connections even from inside the VPC.
		"rds.force_ssl": jsii.String("1"),
		// Slow statements to the log (ms).
		"log_min_duration_statement": jsii.String("500"),
	}
	if !s.DBProxy {
		p["idle_session_timeout"] = jsii.String(fmt.Sprint(idleSessionTimeout.Milliseconds()))
	}
	return &p
}

// cache is a Valkey replication group or, with Settings.CacheServerless,
// an ElastiCache Serverless cache, with TLS, whose clients sign in with
// IAM: one ElastiCache user, authenticated by IAM tokens and allowed what
// shared/cache does, and a disabled default user, which every user group
// must hold.
type cache struct {
	// Either group or serverless is set.
	group      awselasticache.CfnReplicationGroup
	serverless awselasticache.CfnServerlessCache
	// user is the functions' ElastiCache user; userID is its id and name
	// (CACHE_IAM_USER).
	user   awselasticache.CfnUser
	userID string
	// url is REDIS_URL; name is the replication group id or serverless
	// cache name (CACHE_NAME) that IAM tokens are signed for; mode is
	// CACHE_MODE.
	url, name *string
	mode      string
}

func newCache(scope constructs.Construct, s Settings, net *network) *cache {
	prefix := "crm-" + s.Stage
	sg := awsec2.NewSecurityGroup(scope, jsii.String("CacheSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              net.vpc,
		Description:      jsii.String("Valkey cache: reached only by the functions"),
		AllowAllOutbound: jsii.Bool(false),
	})
	sg.AddIngressRule(net.functions, awsec2.Port_Tcp(jsii.Number(cachePort)),
		jsii.String("Functions to Valkey"), nil)

	subnets := awselasticache.NewCfnSubnetGroup(scope, jsii.String("CacheSubnets"), &awselasticache.CfnSubnetGroupProps{
		CacheSubnetGroupName: jsii.String(prefix + "-cache"),
		Description:          jsii.String("Private subnets of the cache"),
		SubnetIds:            toAny(*net.vpc.SelectSubnets(net.private).SubnetIds),
	})

	// User ids are unique in the account and region, hence the stage in
	// them. For IAM authentication the user name must equal the id.
	userID := prefix + "-app"
	access := appcache.AccessString
	if s.CacheServerless {
		access = appcache.ClusterAccessString
	}
	user := awselasticache.NewCfnUser(scope, jsii.String("CacheUser"), &awselasticache.CfnUserProps{
		Engine:             jsii.String(cacheEngine),
		UserId:             jsii.String(userID),
		UserName:           jsii.String(userID),
		AuthenticationMode: map[string]any{"Type": "iam"},
		AccessString:       jsii.String(access),
	})
	// The default user is required in a user group; it is off, so a
	// connection that does not sign in as the functions' user can do
	// nothing, and with no password there is no secret to keep.
	defaultID := prefix + "-default"
	defaultUser := awselasticache.NewCfnUser(scope, jsii.String("CacheDefaultUser"), &awselasticache.CfnUserProps{
		Engine:             jsii.String(cacheEngine),
		UserId:             jsii.String(defaultID),
		UserName:           jsii.String("default"),
		AuthenticationMode: map[string]any{"Type": "no-password-required"},
		AccessString:       jsii.String("off -@all"),
	})
	users := awselasticache.NewCfnUserGroup(scope, jsii.String("CacheUsers"), &awselasticache.CfnUserGroupProps{
		Engine:      jsii.String(cacheEngine),
		UserGroupId: jsii.String(prefix),
		UserIds:     jsii.Strings(userID, defaultID),
	})
	users.Node().AddDependency(user)
	users.Node().AddDependency(defaultUser)

	if s.CacheServerless {
		return newServerlessCache(scope, s, net, sg, users, user, userID)
	}

	multiAZ := s.CacheNodes > 1
	group := awselasticache.NewCfnReplicationGroup(scope, jsii.String("Cache"), &awselasticache.CfnReplicationGroupProps{
		ReplicationGroupId:          jsii.String(prefix),
		ReplicationGroupDescription: jsii.String("Cache of the CRM functions"),
		Engine:                      jsii.String(cacheEngine),
		EngineVersion:               jsii.String("8.0"),
		CacheNodeType:               jsii.String(s.CacheNodeType),
		NumCacheClusters:            jsii.Number(float64(s.CacheNodes)),
		AutomaticFailoverEnabled:    jsii.Bool(multiAZ),
		MultiAzEnabled:              jsii.Bool(multiAZ),
		Port:                        jsii.Number(cachePort),
		CacheSubnetGroupName:        subnets.Ref(),
		SecurityGroupIds:            &[]*string{sg.SecurityGroupId()},
		// IAM tokens are bearer credentials: TLS is required.
		TransitEncryptionEnabled: jsii.Bool(true),
		AtRestEncryptionEnabled:  jsii.Bool(true),
		UserGroupIds:             &[]*string{users.Ref()},
		AutoMinorVersionUpgrade:  jsii.Bool(true),
		SnapshotRetentionLimit:   jsii.Number(float64(s.CacheSnapshotRetention)),
	})
	group.Node().AddDependency(subnets)

	url := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("rediss://"),
		group.AttrPrimaryEndPointAddress(),
		jsii.String(":"),
		group.AttrPrimaryEndPointPort(),
	})
	return &cache{group: group, user: user, userID: userID, url: url, name: group.Ref(), mode: config.CacheModeNode}
}

// Serverless usage limits: what a runaway client can cost at most. The
// bill is for data stored (at least 100 MB) and ECPUs used; these cap
// both far above what the stage needs (README.md, "Idle cost").
const (
	serverlessMaxDataGB     = 1
	serverlessMaxECPUPerSec = 1000 // ElastiCache's lowest maximum
)

// newServerlessCache is the cache as ElastiCache Serverless for Valkey:
// no node to size or patch, Multi-AZ included, billed for data stored and
// ECPUs. It is cluster-mode (CACHE_MODE=serverless), always TLS and
// encrypted at rest (an AWS-owned key: no KMS charge), in the private
// subnets behind the same security group, with the same user group.
func newServerlessCache(scope constructs.Construct, s Settings, net *network, sg awsec2.SecurityGroup,
	users awselasticache.CfnUserGroup, user awselasticache.CfnUser, userID string) *cache {
	prefix := "crm-" + s.Stage
	sc := awselasticache.NewCfnServerlessCache(scope, jsii.String("Cache"), &awselasticache.CfnServerlessCacheProps{
		ServerlessCacheName: jsii.String(prefix),
		Description:         jsii.String("Cache of the CRM functions"),
		Engine:              jsii.String(cacheEngine),
		MajorEngineVersion:  jsii.String("8"),
		SubnetIds:           toAny(*net.vpc.SelectSubnets(net.private).SubnetIds),
		SecurityGroupIds:    &[]interface{}{sg.SecurityGroupId()},
		UserGroupId:         users.Ref(),
		CacheUsageLimits: &awselasticache.CfnServerlessCache_CacheUsageLimitsProperty{
			DataStorage:   &awselasticache.CfnServerlessCache_DataStorageProperty{Maximum: jsii.Number(serverlessMaxDataGB), Unit: jsii.String("GB")},
			EcpuPerSecond: &awselasticache.CfnServerlessCache_ECPUPerSecondProperty{Maximum: jsii.Number(serverlessMaxECPUPerSec)},
		},
		SnapshotRetentionLimit: jsii.Number(float64(s.CacheSnapshotRetention)),
	})
	sc.ApplyRemovalPolicy(s.RemovalPolicy, nil)
	url := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("rediss://"),
		sc.AttrEndpointAddress(),
		jsii.String(":"),
		sc.AttrEndpointPort(),
	})
	return &cache{serverless: sc, user: user, userID: userID, url: url, name: sc.Ref(), mode: config.CacheModeServerless}
}

// cacheEngine is the engine of the replication group and of its users.
const cacheEngine = "valkey"

// arn is the replication group's or serverless cache's ARN, the resource
// of elasticache:Connect with the user's.
func (c *cache) arn() *string {
	if c.serverless != nil {
		return c.serverless.AttrArn()
	}
	return awscdk.Stack_Of(c.group).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("elasticache"),
		Resource:     jsii.String("replicationgroup"),
		ResourceName: c.group.Ref(),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

func toAny(ss []*string) *[]interface{} {
	out := make([]interface{}, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return &out
}
