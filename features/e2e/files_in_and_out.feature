@e2e @live @files
Feature: Files in and out of a task's sandbox
  A script or commands task may carry input files (base64 in the JSON contract, at most 16 files and 1 MiB in
  all); they appear under /workspace before the command starts. Bad paths and sizes over the caps are refused
  with a 400 that names the field.

  Background:
    Given the CyNode system has been started with just up and is ready
    And I have logged in over HTTP as the bootstrap admin

  Scenario: A file sent with the task is read by the command
    When I create a sandbox task running "cat in/data.txt; wc -c < in/data.txt" with the file "in/data.txt" holding "hello file\n"
    And I wait until that task has finished
    Then that task has status "completed"
    And that task's result has exit code 0 and stdout "hello file\n11\n"

  Scenario Outline: Input files with a bad path are refused
    When I create a sandbox task with an input file at "<path>"
    Then the task is refused with 400 and the error names "files"

    Examples:
      | path            |
      | ../escape.txt   |
      | /etc/passwd     |
      | in/../../x      |
      | -rf             |

  Scenario: Input files over the size cap, and files on a prompt task, are refused
    When I create a sandbox task with input files of 1048577 bytes in all
    Then the task is refused with 400 and the error names "files"
    When I create a prompt task with an input file
    Then the task is refused with 400 and the error names "files"

  Scenario: Files the job writes under /workspace/out are listed and downloaded byte-identical
    When I create a sandbox task running "printf 'a,b\n1,2\n' > out/table.csv; mkdir out/sub; head -c 3000 /dev/urandom > out/sub/blob.bin; sha256sum out/sub/blob.bin | cut -c1-64 > out/sub/blob.sha; ln -s /etc/passwd out/link; mkfifo out/pipe"
    And I wait until that task has finished
    Then that task has status "completed"
    And the task's artifacts are "sub/blob.bin, sub/blob.sha, table.csv"
    And the artifact "table.csv" downloads as "a,b\n1,2\n" with content type "text/csv; charset=utf-8"
    And the artifact "sub/blob.bin" downloads byte-identical to what the job measured in "sub/blob.sha"
    And the refused artifacts are "link, pipe", each with its reason
    And a missing artifact "nope.txt" is answered 404
    And another user "files-other" gets 404 for that task's artifacts and for "table.csv"
    When I log in with the cynode CLI as the bootstrap admin
    And I run cynode task artifacts for that task with --get "table.csv"
    Then the CLI exited 0 with stdout "a,b\n1,2\n" and stderr containing ""

  Scenario: Artifacts past the caps are refused with a reason
    When I create a sandbox task running "for i in $(seq 1 33); do echo $i > out/f$i.txt; done; head -c 9000000 /dev/zero > out/zz-big.bin"
    And I wait until that task has finished
    Then that task has status "completed"
    And the task has 32 artifacts and the refusals name "more than 32 files"
