@dispatch
Feature: Operations: rotated secrets, restarts and cancels racing the dispatcher
  Real control planes on one PostgreSQL database and real Worker APIs running real sandboxes, as in the dispatch
  feature. A node's run starts when its node manager registers and fetches its config; only its ack of that
  config makes it dispatchable again. A real node manager that keeps running follows the config version its
  heartbeats name.

  Scenario: Restarting with a rotated JWT_SECRET re-issues the node's worker token and tasks run again
    Given a dispatch control plane is running
    And dispatch node "node-a" runs a worker holding its delivered token and has acked its config
    When a sandbox job "before" runs "echo before the rotation"
    Then dispatch job "before" ends "completed" with task status "completed"
    When the control plane is restarted on the same database with a new JWT_SECRET
    And dispatch node "node-a" restarts: it registers again and fetches its config
    Then node "node-a" was delivered a new worker token under a new config version
    And the control plane logged that the worker token of "node-a" was re-issued
    And the control plane is not ready because "node-a has not acknowledged config"
    When dispatch node "node-a" starts its worker and acks its config
    Then the control plane is ready
    When a sandbox job "after" runs "echo after the rotation"
    Then dispatch job "after" ends "completed" with task status "completed"

  Scenario: Only the control plane restarts with a rotated JWT_SECRET: the running node takes its new worker token by itself
    Given a dispatch control plane is running
    And node manager "node-m" runs against the control plane and has acked its config
    When a sandbox job "before" runs "echo before the rotation"
    Then dispatch job "before" ends "completed" with task status "completed"
    When only the control plane is restarted, at the same address, with a new JWT_SECRET
    Then the control plane logged that the worker token of node manager "node-m" was re-issued
    And node manager "node-m" took its new worker token and acked the new config version, without restarting
    When a sandbox job "after" runs "echo after the rotation"
    Then dispatch job "after" ends "completed" with task status "completed"

  Scenario: After a node restarts, neither readiness nor the dispatcher counts its earlier ack
    Given a dispatch control plane is running
    And dispatch node "node-a" runs a worker holding its delivered token and has acked its config
    Then the control plane is ready
    When dispatch node "node-a" restarts: it registers again and fetches its config
    Then the control plane is not ready because "node-a has not acknowledged config"
    When a sandbox job "waits" runs "echo waited for the ack"
    Then dispatch job "waits" is still queued on no node after 3 seconds
    When dispatch node "node-a" starts its worker and acks its config
    Then the control plane is ready
    And dispatch job "waits" ends "completed" with task status "completed"

  Scenario: Cancels racing the dispatcher's claims and results all succeed
    Given a dispatch control plane is running
    And dispatch node "node-a" runs a worker holding its delivered token and has acked its config
    When 40 sandbox jobs are created and every other task is canceled at once, as the gateway cancels, while they dispatch
    Then every cancel succeeded or answered that the task had already ended
    And every one of the 40 racing tasks ends closed, canceled or completed, with no job left running
