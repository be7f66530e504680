@netns
Feature: Many nodes on a real network: spread, join, crash, partition and drain
  The control plane runs in a network namespace of its own with a bridge; each node (node manager with its Worker
  API) runs in its own namespace, reaching the control plane over a veth pair. Addresses exist only inside those
  namespaces. Nodes heartbeat every 0.5 s; the control plane marks a node lost after 1.5 s of silence and fails its
  unfinished jobs `node_lost` after a 4 s grace. Tasks go in through the user gateway; whether a job ran twice is
  read from the workers' own workspaces (each run appends one line).

  Background:
    Given a control plane in its own network namespace
    And nodes "node-1", "node-2" and "node-3" each in their own namespace reaching it over veth

  Scenario: Tasks spread over all three nodes
    When 9 tasks each record their run and take 2 seconds
    Then every one of those tasks completes
    And each of "node-1", "node-2" and "node-3" ran at least one of them
    And no job ran twice, by the workers' own records

  Scenario: A fourth node joining later gets work within a second of becoming dispatchable
    Given every node is kept busy by 6 tasks of 300 seconds
    When a task is submitted that records its run
    And node "node-4" joins in its own namespace
    Then that task runs on "node-4" within 1 second of node-4's config ack
    And no job ran twice, by the workers' own records

  Scenario: A node killed with SIGKILL mid-job: its job fails node_lost, the others keep serving, readiness stays ready
    When 3 tasks each record their run and take 5 seconds
    And every one of those tasks is running
    And a node running exactly one of them is killed with SIGKILL
    Then that node becomes lost
    And the control plane is still ready
    And the killed node's job ends failed with "node_lost"
    And the other tasks complete
    When 2 tasks each record their run and take 1 seconds
    Then every one of those tasks completes on a node other than the killed one
    And no job ran twice, by the workers' own records

  Scenario: A partition and its heal run no job twice
    When 3 tasks each record their run and take 4 seconds
    And every one of those tasks is running
    And the node running the first of them is cut off from the network
    Then that node becomes lost
    When 3 tasks each record their run and take 1 seconds
    Then every one of those tasks completes on a node other than the cut-off one
    When the cut-off node's link comes back
    Then that node becomes active again
    And every task so far has ended
    And no job ran twice, by the workers' own records

  Scenario: Draining a node lets its job finish, sends new work elsewhere, and ends drained
    When 3 tasks each record their run and take 4 seconds
    And every one of those tasks is running
    And the admin drains the node running the first of them through the gateway
    Then the gateway shows that node "draining"
    When 4 tasks each record their run and take 1 seconds
    Then every one of those tasks completes on a node other than the drained one
    And the first tasks complete
    And the gateway shows that node "drained"
    And no job ran twice, by the workers' own records
