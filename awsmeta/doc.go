// Package awsmeta finds out where the traced app runs, as the X-Ray SDKs'
// plugins do (docs/segments.md, Plugins), once at start-up.
//
// In: the plugin names (ec2, ecs, elasticbeanstalk) and where to ask: the
// EC2 instance metadata service (IMDSv2, IMDSv1 fallback), the ECS task
// metadata endpoint v4, the Elastic Beanstalk environment file. Out:
// Metadata, the members of the segments' "aws" object and their "origin"
// (the last plugin in the list that found something).
//
// Every call has a timeout and the whole collection a deadline, so that
// start-up never hangs on a metadata service; a plugin that finds nothing
// is skipped with one log line.
package awsmeta
