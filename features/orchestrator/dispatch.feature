@dispatch
Feature: The dispatcher runs queued jobs on dispatchable nodes and stores their results
  Real control planes share one PostgreSQL database; real Worker APIs run real sandbox containers. A node
  registers over the control plane's HTTP API, fetches its config (with its own worker token), starts its
  worker with that token and acknowledges the config. Jobs are stored as the gateway stores them.

  Scenario: A job runs on the node's own worker URL with the node's own token and its result lands on the task
    Given a dispatch control plane is running
    And dispatch node "node-a" runs a worker holding its delivered token and has acked its config
    When a sandbox job "hello" runs "echo hello from the sandbox; echo a warning >&2"
    Then dispatch job "hello" ends "completed" with task status "completed"
    And dispatch job "hello" has stdout "hello from the sandbox\n", stderr "a warning\n" and exit code 0
    And the result summary of dispatch job "hello" is "hello from the sandbox"
    And worker "node-a" recorded dispatch job "hello" as completed, run exactly once

  Scenario: A failing command fails the task with the worker's exit code
    Given a dispatch control plane is running
    And dispatch node "node-a" runs a worker holding its delivered token and has acked its config
    When a sandbox job "broken" runs "echo partial; exit 3"
    Then dispatch job "broken" ends "failed" with task status "failed"
    And dispatch job "broken" has stdout "partial\n", stderr "" and exit code 3
    And the result summary of dispatch job "broken" is "job failed"

  Scenario: A node whose worker holds another token gets nothing run and the job fails with a readable reason
    Given a dispatch control plane is running
    And dispatch node "node-bad" runs a worker holding a wrong token and has acked its config
    When a sandbox job "refused" runs "echo should never run"
    Then dispatch job "refused" ends "failed" with task status "failed"
    And the dispatch failure of job "refused" is "worker_auth_failed" mentioning "node-bad" and "401"
    And worker "node-bad" never ran dispatch job "refused"

  Scenario: A queued job waits silently while no node is dispatchable, and runs once one is
    Given a dispatch control plane is running
    And dispatch node "node-late" has registered and fetched its config but not acked it
    When a sandbox job "patient" runs "echo finally"
    Then dispatch job "patient" is still queued on no node after 3 seconds
    And the control plane logged once that queued jobs wait for a dispatchable node
    When dispatch node "node-late" starts its worker and acks its config
    Then dispatch job "patient" ends "completed" with task status "completed"

  Scenario: Two control planes on one database never run a job twice
    Given 2 dispatch control planes are running on one database
    And dispatch node "node-1" runs a worker holding its delivered token and has acked its config
    And dispatch node "node-2" runs a worker holding its delivered token and has acked its config
    When 24 sandbox jobs each append a line to their workspace
    Then every one of the 24 dispatch jobs ends "completed" with task status "completed"
    And the workers' own records show each of the 24 jobs ran exactly once on exactly one node

  Scenario: A control plane killed mid-job is reconciled after restart without running the job again
    Given a dispatch control plane is running
    And dispatch node "node-a" runs a worker holding its delivered token and has acked its config
    When a sandbox job "survivor" runs "echo run >> /workspace/runs; sleep 3; echo survived"
    And dispatch job "survivor" is running on worker "node-a"
    And the dispatch control plane is killed with SIGKILL and started again
    Then dispatch job "survivor" ends "completed" with task status "completed"
    And the restarted control plane reconciled dispatch job "survivor" with its node
    And dispatch job "survivor" has stdout "survived\n", stderr "" and exit code 0
    And worker "node-a" recorded dispatch job "survivor" as completed, run exactly once

  Scenario: Canceling a running task stops its sandbox and the task stays canceled
    Given a dispatch control plane is running
    And dispatch node "node-a" runs a worker holding its delivered token and has acked its config
    When a sandbox job "endless" runs "echo started; sleep 60"
    And dispatch job "endless" is running on worker "node-a"
    And the task of dispatch job "endless" is canceled as the gateway cancels it
    Then dispatch job "endless" ends "canceled" with task status "canceled"
    And worker "node-a" recorded dispatch job "endless" as stopped by the cancel
