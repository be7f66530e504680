@e2e @live
Feature: Following a task's output live
  A running task's output travels from the sandbox through the control plane and PostgreSQL (rows + NOTIFY) to the
  gateway, which serves it as Server-Sent Events: `GET /v1/tasks/{id}/logs?follow=true`. The gateway never calls a
  node. A reader that reconnects with Last-Event-ID gets the rest, each line once.

  Background:
    Given the CyNode system has been started with just up and is ready
    And I have logged in over HTTP as the bootstrap admin

  Scenario: A task printing a line a second is followed live, also after a reconnect
    When I create a sandbox task running "for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done"
    And I follow that task's output until "line 2" has arrived, then disconnect
    Then those lines arrived while the task was still running
    When I follow that task's output again from the last event id I saw
    Then the output stream ends with status "completed" and exit code 0
    And the lines "line 1" to "line 6" arrived on stdout once each, in order

  Scenario: Without follow, the logs are the final text as before
    When I create a sandbox task running "echo out; echo err >&2; exit 4"
    And I follow that task's output until it ends
    Then the output stream ends with status "failed" and exit code 4
    And the followed stdout is "out\n" and the followed stderr is "err\n"
    And GET logs without follow answers JSON with stdout "out\n" and stderr "err\n"

  Scenario: Output holding a NUL byte is stored and shown with U+FFFD in its place
    When I create a sandbox task running "printf 'a\000b\n'; printf 'c\000' >&2"
    And I follow that task's output until it ends
    Then the output stream ends with status "completed" and exit code 0
    And the followed stdout is "a�b\n" and the followed stderr is "c�"

  Scenario: Another user cannot follow my task
    When I create a sandbox task running "sleep 2; echo secret"
    And another user "live-other" follows that task's output
    Then that user's follow request is answered 404

  Scenario: A bad Last-Event-ID is a clear 400
    When I create a sandbox task running "echo hi"
    Then following that task with Last-Event-ID "not-a-number" is answered 400

  Scenario: The CLI follows a task live and exits with the task's exit code
    When I log in with the cynode CLI as the bootstrap admin
    And I run cynode task create --command "echo out; echo err >&2; exit 7" --follow
    Then the CLI exited 7 with stdout "out\n" and stderr containing "err"
    When I run cynode task logs -f for that task
    Then the CLI exited 7 with stdout "out\n" and stderr containing "err"
    When I run cynode task logs -f --stream stdout for that task
    Then the CLI exited 7 with stdout "out\n" and nothing of the task's stderr
