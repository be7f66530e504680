import { Effect, Queue } from "effect"

/**
 * In-process wake-up for the dispatcher (control-plane.md §9 step 1): an applied ack (or a finished job) makes a
 * node claimable now rather than at the next poll. Sliding queue of one: many wakes before a take count once.
 */
export class DispatchWakeup extends Effect.Service<DispatchWakeup>()("cynode/DispatchWakeup", {
  effect: Effect.map(Queue.sliding<void>(1), (queue) => ({
    wake: Queue.offer(queue, undefined).pipe(Effect.asVoid),
    /** Waits for the next wake-up. */
    next: Queue.take(queue)
  }))
}) {}
