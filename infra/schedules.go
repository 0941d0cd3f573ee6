package main

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/personalcrm/core/shared/catalog"
)

// scheduler holds the schedule group every schedule of the stage is in.
type scheduler struct {
	group    awsscheduler.CfnScheduleGroup
	groupArn *string
}

func newScheduler(scope constructs.Construct, s Settings) *scheduler {
	name := "crm-" + s.Stage
	group := awsscheduler.NewCfnScheduleGroup(scope, jsii.String("ScheduleGroup"), &awsscheduler.CfnScheduleGroupProps{
		Name: jsii.String(name),
	})
	return &scheduler{group: group, groupArn: group.AttrArn()}
}

// add creates one schedule: an op is invoked, a job gets one message with
// the schedule's payload on its queue. The schedule's role may do exactly
// that and nothing else.
func (sc *scheduler) add(scope constructs.Construct, s Settings, sch catalog.Schedule, target catalog.Function,
	fn awslambda.Function, q *jobQueue) awsscheduler.CfnSchedule {
	stack := awscdk.Stack_Of(scope)
	role := awsiam.NewRole(scope, jsii.String("Role"), &awsiam.RoleProps{
		Description: jsii.String("EventBridge Scheduler: runs schedule " + sch.Name),
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{
					"aws:SourceAccount": stack.Account(),
				},
				// Only schedules of this stage's group may assume it.
				"ArnLike": map[string]interface{}{
					"aws:SourceArn": stack.FormatArn(&awscdk.ArnComponents{
						Service:      jsii.String("scheduler"),
						Resource:     jsii.String("schedule"),
						ResourceName: jsii.String(*sc.group.Name() + "/*"),
					}),
				},
			},
		}),
	})

	expr, _ := rateExpression(sch.Every) // validated with the catalog
	t := &awsscheduler.CfnSchedule_TargetProperty{
		RoleArn: role.RoleArn(),
		RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
			// A run older than the period is superseded by the next one.
			MaximumEventAgeInSeconds: jsii.Number(clamp(sch.Every, time.Minute, 24*time.Hour).Seconds()),
			MaximumRetryAttempts:     jsii.Number(3),
		},
	}
	switch target.Kind {
	case catalog.Job:
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("sqs:SendMessage"),
			Resources: jsii.Strings(*q.queue.QueueArn()),
		}))
		t.Arn = q.queue.QueueArn()
		// The message has no job id: the worker adopts it as a new job
		// and decodes this payload as the job type's (checked in tests).
		t.Input = jsii.String(sch.Payload)
	default:
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("lambda:InvokeFunction"),
			Resources: jsii.Strings(*fn.FunctionArn()),
		}))
		t.Arn = fn.FunctionArn()
	}

	schedule := awsscheduler.NewCfnSchedule(scope, jsii.String("Schedule"), &awsscheduler.CfnScheduleProps{
		Name:               jsii.String("crm-" + s.Stage + "-" + sch.Name),
		GroupName:          sc.group.Name(),
		Description:        jsii.String(truncate(sch.Summary, 512)),
		ScheduleExpression: jsii.String(expr),
		FlexibleTimeWindow: &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:              jsii.String("ENABLED"),
		Target:             t,
	})
	schedule.Node().AddDependency(sc.group)
	// The role must carry its policy before the first run.
	schedule.Node().AddDependency(role)
	return schedule
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}
