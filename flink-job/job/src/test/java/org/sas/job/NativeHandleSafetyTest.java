package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import org.sas.nativeloader.NativeRouter;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import java.util.stream.Stream;

/**
 * Nothing a caller passes as a handle takes the JVM down: handle 0, a closed handle, a second close, a
 * handle of another kind (a workload passed as a router, ...) and a made-up number each raise a Java
 * exception naming the handle, from every native that takes one; the metrics thread's {@code agentStatus}
 * runs beside the task thread's {@code route}, and a close beside both.
 *
 * <p>Issue "Nothing a client sends takes it down", item 3. Before the handle registry
 * ({@code partitioner-jni/jni/src/handles.rs}) a handle was a raw pointer: the first of these calls to
 * dereference a bad one killed the surefire JVM (SIGSEGV, or glibc's abort on a double free).
 */
class NativeHandleSafetyTest {

    /** A native taking a handle, with arguments that are valid for a live handle of its kind. */
    record Call(String name, LongConsumer call) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** Which kind of handle a native takes, and how to get and close a live one. */
    enum Kind {
        ROUTER, WORKLOAD, REPORTER;

        long open() {
            return switch (this) {
                case ROUTER -> NativeRouter.create(PLAIN, "");
                case WORKLOAD -> NativeRouter.createWorkload(PLAIN);
                case REPORTER -> NativeRouter.openWorkerReporter(LINKED, 0);
            };
        }

        void close(long handle) {
            switch (this) {
                case ROUTER -> NativeRouter.close(handle);
                case WORKLOAD -> NativeRouter.closeWorkload(handle);
                case REPORTER -> NativeRouter.closeWorkerReporter(handle);
            }
        }

        String label() {
            return name().toLowerCase();
        }
    }

    /** Params without an agent. */
    static final String PLAIN = TestJobs.yaml("wordcount", "saspartitioner", 100);

    /**
     * Params with an agent nobody serves: the link retries in the background, and a router falls back at
     * its first look at the link ({@code fallback_after_ms: 0}), so its status changes while it routes.
     */
    static final String LINKED = PLAIN
            + "agent:\n"
            + "  address: http://127.0.0.1:1\n"
            + "  mode: serve\n"
            + "  interval_ms: 100\n"
            + "  fallback_after_ms: 0\n"
            + "  reconnect_backoff_ms: {min: 100, max: 1000}\n";

    @BeforeAll
    static void load() {
        NativeRouter.ensureLoaded();
    }

    static Stream<Object[]> calls() {
        double[] loads = new double[TestJobs.WORKERS];
        return Stream.of(
                new Object[] {Kind.ROUTER, new Call("route", h -> NativeRouter.route(h, 1, 0))},
                new Object[] {Kind.ROUTER, new Call("routeBatch",
                        h -> NativeRouter.routeBatch(h, new long[] {1}, new long[] {0}, new int[1], 1))},
                new Object[] {Kind.ROUTER, new Call("endInterval", h -> NativeRouter.endInterval(h, loads))},
                new Object[] {Kind.ROUTER, new Call("applyAction",
                        h -> NativeRouter.applyAction(h, new double[] {1.0}))},
                new Object[] {Kind.ROUTER, new Call("splitsKeys", NativeRouter::splitsKeys)},
                new Object[] {Kind.ROUTER, new Call("snapshotState", NativeRouter::snapshotState)},
                new Object[] {Kind.ROUTER, new Call("restoreState", h -> NativeRouter.restoreState(h, new byte[0]))},
                new Object[] {Kind.ROUTER, new Call("agentStatus", NativeRouter::agentStatus)},
                new Object[] {Kind.ROUTER, new Call("close", NativeRouter::close)},
                new Object[] {Kind.WORKLOAD, new Call("keyAt", h -> NativeRouter.keyAt(h, 0))},
                new Object[] {Kind.WORKLOAD, new Call("eventTime", h -> NativeRouter.eventTime(h, 0))},
                new Object[] {Kind.WORKLOAD, new Call("closeWorkload", NativeRouter::closeWorkload)},
                new Object[] {Kind.REPORTER, new Call("reportWorker",
                        h -> NativeRouter.reportWorker(h, 0, 1.0, 0.0, 100.0, 1))},
                new Object[] {Kind.REPORTER, new Call("closeWorkerReporter", NativeRouter::closeWorkerReporter)});
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("calls")
    void handleZeroIsAnIllegalArgument(Kind kind, Call call) {
        String message = assertThrows(IllegalArgumentException.class, () -> call.call.accept(0L)).getMessage();
        assertTrue(message.contains("the " + kind.label() + " handle is 0"), message);
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("calls")
    void aClosedHandleIsAnIllegalState(Kind kind, Call call) {
        long handle = kind.open();
        kind.close(handle);
        String message = assertThrows(IllegalStateException.class, () -> call.call.accept(handle)).getMessage();
        assertTrue(message.contains(kind.label() + " handle " + handle + " is closed"), message);
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("calls")
    void aHandleOfAnotherKindIsAnIllegalArgument(Kind kind, Call call) {
        for (Kind other : Kind.values()) {
            if (other == kind) {
                continue;
            }
            long handle = other.open();
            try {
                String message =
                        assertThrows(IllegalArgumentException.class, () -> call.call.accept(handle)).getMessage();
                String expected = "handle " + handle + " is a " + other.label() + " handle, not a " + kind.label();
                assertTrue(message.contains(expected), message);
            } finally {
                // Still open and still working: the wrong call changed nothing.
                other.close(handle);
            }
        }
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("calls")
    void aMadeUpNumberIsRefused(Kind kind, Call call) {
        long live = kind.open();
        try {
            // Near a live handle (same slot, other generations; neighbouring slots), far from any, negative.
            long[] madeUp = {live + 1, live - 1, live + (1L << 32), live ^ (1L << 40), 0x7fff_ffff_ffffL, -1L,
                    Long.MIN_VALUE, 4096L};
            for (long handle : madeUp) {
                RuntimeException e = assertThrows(RuntimeException.class, () -> call.call.accept(handle),
                        "handle " + handle);
                assertTrue(e instanceof IllegalArgumentException || e instanceof IllegalStateException,
                        "handle " + handle + ": " + e);
                assertTrue(e.getMessage().contains(Long.toString(handle)), e.getMessage());
            }
        } finally {
            kind.close(live);
        }
    }

    @Test
    void aSecondCloseIsAnIllegalStateAndAReusedSlotKeepsTheOldHandleDead() {
        for (Kind kind : Kind.values()) {
            long first = kind.open();
            kind.close(first);
            String message = assertThrows(IllegalStateException.class, () -> kind.close(first)).getMessage();
            assertTrue(message.contains(kind.label() + " handle " + first + " is closed"), message);
            // The next object may take the freed slot: the old handle still names the closed one only.
            long second = kind.open();
            try {
                assertTrue(second != first, kind + ": a new handle differs from a closed one");
                assertThrows(IllegalStateException.class, () -> kind.close(first));
            } finally {
                kind.close(second);
            }
        }
        long router = NativeRouter.create(PLAIN, "");
        try {
            int worker = NativeRouter.route(router, 1, 0);
            assertTrue(worker >= 0 && worker < TestJobs.WORKERS, "worker " + worker);
        } finally {
            NativeRouter.close(router);
        }
    }

    /**
     * The metrics thread reads {@code agentStatus} while the task thread routes (as {@code KeyRouter}'s
     * gauges do), then the router is closed under the reader: the reader sees a consistent status each time
     * and then an {@link IllegalStateException}, never freed memory.
     */
    @Test
    void agentStatusFromAnotherThreadWhileRoutingAndClosing() throws Exception {
        long router = NativeRouter.createRouter(LINKED, "", 0);
        AtomicBoolean closed = new AtomicBoolean();
        AtomicLong reads = new AtomicLong();
        AtomicLong sawFallback = new AtomicLong();
        CompletableFuture<Throwable> reader = CompletableFuture.supplyAsync(() -> {
            while (true) {
                long[] status;
                try {
                    status = NativeRouter.agentStatus(router);
                } catch (IllegalStateException e) {
                    return closed.get() ? null : e;
                } catch (Throwable e) {
                    return e;
                }
                if (status.length != 9 || status[NativeRouter.STATUS_CONNECTED] != 0
                        || status[NativeRouter.STATUS_FALLBACK_ACTIVE] > 1) {
                    return new AssertionError("status " + java.util.Arrays.toString(status));
                }
                sawFallback.addAndGet(status[NativeRouter.STATUS_FALLBACK_ACTIVE]);
                reads.incrementAndGet();
            }
        });
        while (reads.get() == 0) {
            Thread.onSpinWait();
        }
        for (long i = 0; i < 2_000_000; i++) {
            int worker = NativeRouter.route(router, i % 1000, i);
            if (worker < 0 || worker >= TestJobs.WORKERS) {
                throw new AssertionError("record " + i + ": worker " + worker);
            }
        }
        long before = reads.get();
        while (reads.get() < before + 10) {
            Thread.onSpinWait();
        }
        long[] last = NativeRouter.agentStatus(router);
        closed.set(true);
        NativeRouter.close(router);
        Throwable failure = reader.get(30, TimeUnit.SECONDS);
        if (failure != null) {
            throw new AssertionError("the reader failed after " + reads.get() + " reads", failure);
        }
        assertEquals(1, last[NativeRouter.STATUS_FALLBACK_ACTIVE], "fell back (no agent, fallback_after_ms: 0)");
        assertTrue(sawFallback.get() > 0, "the reader saw the fallback");
    }

    /**
     * One router handle shared by two routing threads (against the contract): each call either routes or
     * raises an {@link IllegalStateException} saying the handle is in use, and the router stays usable.
     */
    @Test
    void twoThreadsOnOneRouterNeverRouteAtOnce() throws Exception {
        long router = NativeRouter.create(PLAIN, "pkg");
        try {
            List<CompletableFuture<long[]>> threads = Stream.of(0, 1).map(t -> CompletableFuture.supplyAsync(() -> {
                long routed = 0;
                long refused = 0;
                for (long i = 0; i < 500_000; i++) {
                    try {
                        int worker = NativeRouter.route(router, i % 1000, i);
                        if (worker < 0 || worker >= TestJobs.WORKERS) {
                            throw new AssertionError("worker " + worker);
                        }
                        routed++;
                    } catch (IllegalStateException e) {
                        if (!e.getMessage().contains("in use by another thread")) {
                            throw e;
                        }
                        refused++;
                    }
                }
                return new long[] {routed, refused};
            })).toList();
            long routed = 0;
            for (CompletableFuture<long[]> t : threads) {
                routed += t.get(60, TimeUnit.SECONDS)[0];
            }
            assertTrue(routed > 0);
            int worker = NativeRouter.route(router, 1, 0);
            assertTrue(worker >= 0 && worker < TestJobs.WORKERS);
        } finally {
            NativeRouter.close(router);
        }
    }
}
