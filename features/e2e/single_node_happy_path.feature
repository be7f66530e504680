@e2e
Feature: Single-node happy path, end to end
  The whole system is started the way a user starts it — scripts/up.ts, which `just up` runs, on free ports: one
  embedded PostgreSQL, the control plane, the user gateway and one node whose inference container is the labelled
  stand-in — and is then used over HTTP and through the cynode CLI. No token is wired by hand: up.ts generates the
  secrets, and the worker's token travels only through config delivery.

  Background:
    Given the CyNode system has been started with just up and is ready

  Scenario: A sandbox command runs on the node and its result is read back
    Given I have logged in over HTTP as the bootstrap admin
    When I create a sandbox task running "echo hello from CyNode"
    And I wait until that task has finished
    Then that task has status "completed"
    And that task's result has exit code 0 and stdout "hello from CyNode\n"

  Scenario: A prompt task is answered by the node-local inference
    Given I have logged in over HTTP as the bootstrap admin
    When I create a prompt task "Say hello to CyNode"
    And I wait until that task has finished
    Then that task has status "completed"
    And that task's result has exit code 0 and the stand-in's answer to "Say hello to CyNode"

  Scenario: Refresh rotates the tokens, and after logout the access token fails
    Given I have logged in over HTTP as the bootstrap admin
    When I refresh my session over HTTP
    Then the refreshed access token works
    When I log out over HTTP
    Then my access token from before the logout is refused with 401

  Scenario: The CLI logs in, creates a task, waits for it and reads its result
    When I log in with the cynode CLI as the bootstrap admin
    Then the CLI credentials file exists with mode 0600
    And "cynode whoami" prints the handle "admin"
    When I run cynode task create --command "echo hello from the CLI" --wait
    Then the CLI exited 0 and printed stdout "hello from the CLI\n"
    When I run cynode task result for that task with --json
    Then the CLI JSON result has status "completed", exit code 0 and stdout "hello from the CLI\n"
    When I log out with the cynode CLI
    Then "cynode whoami" fails with exit code 3

  Scenario: Stopping the system leaves no process and no container behind
    When I stop the CyNode system with Ctrl-C
    Then it has stopped cleanly within 90 seconds
    And none of the system's processes is alive
    And no container labelled io.cynode.managed=true for this node remains
