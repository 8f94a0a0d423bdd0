package org.sas.flink.internal.loads;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.CoordinatorStore;
import org.apache.flink.runtime.operators.coordination.CoordinatorStoreImpl;
import org.apache.flink.runtime.operators.coordination.EventReceivingTasks;
import org.apache.flink.runtime.operators.coordination.MockOperatorCoordinatorContext;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.runtime.operators.coordination.OperatorEvent;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The JobManager side of the load hand-over: the board publishes an interval once, when every worker has
 * reported it, and the coordinators carry the workers' reports to every router.
 */
class LoadBoardTest {

    static final int WORKERS = 3;
    static final long N = 7_000_000_000L;

    /** Subscribes to {@code board}: the vectors it publishes go to the returned list. */
    static List<WorkerLoads> subscribe(LoadBoard board) {
        List<WorkerLoads> published = new ArrayList<>();
        board.subscribe(published::add);
        return published;
    }

    @Test
    void anIntervalIsPublishedOnceEveryWorkerHasReportedIt() {
        LoadBoard board = new LoadBoard(WORKERS);
        List<WorkerLoads> published = subscribe(board);
        assertFalse(board.report(2, N, 0.5));
        assertFalse(board.report(0, N, 0.25));
        assertTrue(published.isEmpty(), "incomplete");
        assertTrue(board.report(1, N, 1.0));
        assertEquals(1, published.size());
        assertEquals(N, published.get(0).interval());
        assertArrayEquals(new double[] {0.25, 1.0, 0.5}, published.get(0).loads(), "in worker order");
        // A late or repeated report of a published interval changes nothing.
        assertFalse(board.report(1, N, 0.75));
        assertEquals(1, published.size());
        assertEquals(0, board.pendingIntervals());
    }

    @Test
    void anIncompleteIntervalIsNeverPublishedAndALaterOneSupersedesIt() {
        LoadBoard board = new LoadBoard(WORKERS);
        List<WorkerLoads> published = subscribe(board);
        board.report(0, N, 0.1);
        board.report(1, N, 0.1);              // worker 2 never reports N
        board.report(0, N + 1, 0.2);
        board.report(1, N + 1, 0.2);
        board.report(2, N + 1, 0.2);          // N + 1 completes first
        board.report(2, N, 0.1);              // too late: N is older than the last published interval
        assertEquals(List.of(N + 1), published.stream().map(WorkerLoads::interval).toList());
        assertEquals(0, board.pendingIntervals(), "N was dropped when N + 1 completed");
    }

    @Test
    void aRepeatedReportReplacesTheFirstAndBadValuesAreIgnored() {
        LoadBoard board = new LoadBoard(WORKERS);
        List<WorkerLoads> published = subscribe(board);
        board.report(0, N, 0.9);
        board.report(0, N, 0.3);              // a restarted worker reports N again
        board.report(1, N, Double.NaN);
        board.report(1, N, -0.1);
        board.report(1, N, Double.POSITIVE_INFINITY);
        board.report(WORKERS, N, 0.5);        // no such worker
        assertTrue(published.isEmpty(), "worker 1 has not reported a valid load");
        board.report(1, N, 0.0);
        board.report(2, N, 0.6);
        assertArrayEquals(new double[] {0.3, 0.0, 0.6}, published.get(0).loads());
    }

    @Test
    void incompleteIntervalsAreBounded() {
        LoadBoard board = new LoadBoard(WORKERS);
        for (long i = 0; i < 3 * LoadBoard.MAX_PENDING; i++) {
            board.report(0, N + i, 0.5);
        }
        assertEquals(LoadBoard.MAX_PENDING, board.pendingIntervals());
    }

    @Test
    void theJobsCoordinatorsShareOneBoard() {
        CoordinatorStore store = new CoordinatorStoreImpl();
        LoadBoard board = LoadBoard.of(store, WORKERS);
        assertSame(board, LoadBoard.of(store, WORKERS));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> LoadBoard.of(store, WORKERS + 1));
        assertTrue(e.getMessage().contains("3 workers"), e.getMessage());
    }

    /** A coordinator context whose store is {@code store}: the job's coordinators share theirs. */
    static OperatorCoordinator.Context context(CoordinatorStore store, int parallelism) {
        return new MockOperatorCoordinatorContext(new OperatorID(), parallelism) {
            @Override
            public CoordinatorStore getCoordinatorStore() {
                return store;
            }
        };
    }

    @Test
    void workerReportsReachEveryRouterAsOneVectorPerInterval() throws Exception {
        CoordinatorStore store = new CoordinatorStoreImpl();
        int routers = 2;
        OperatorCoordinator workerSide = new WorkerLoadCoordinator.Provider(new OperatorID(), WORKERS)
                .create(context(store, WORKERS));
        OperatorCoordinator routerSide = new RouterLoadCoordinator.Provider(new OperatorID(), WORKERS)
                .create(context(store, routers));
        routerSide.start();                   // either may start first
        workerSide.start();
        EventReceivingTasks tasks = EventReceivingTasks.createForRunningTasks();
        for (int r = 0; r < routers; r++) {
            routerSide.executionAttemptReady(r, 0, tasks.createGatewayForSubtask(r, 0));
        }

        // Worker w was busy 100·(w + 1) ms of a 250 ms interval N; worker 1 reports N + 1 early.
        workerSide.handleEventFromOperator(1, 0, new WorkerLoadReport(N + 1, 50, 250));
        for (int w = 0; w < WORKERS; w++) {
            assertEquals(0, tasks.getNumberOfSentEvents(), "nothing before the last worker of N");
            workerSide.handleEventFromOperator(w, 0, new WorkerLoadReport(N, 100 * (w + 1), 250));
        }
        for (int r = 0; r < routers; r++) {
            List<OperatorEvent> events = tasks.getSentEventsForSubtask(r);
            assertEquals(1, events.size(), "router " + r + ": " + events);
            WorkerLoads loads = (WorkerLoads) events.get(0);
            assertEquals(N, loads.interval());
            assertArrayEquals(new double[] {0.4, 0.8, 1.2}, loads.loads(), 1e-12);
        }

        // A failed router attempt gets nothing until its next attempt is ready.
        routerSide.executionAttemptFailed(1, 0, new RuntimeException("lost"));
        for (int w = 0; w < WORKERS; w++) {
            workerSide.handleEventFromOperator(w, 0, new WorkerLoadReport(N + 1, 25, 250));
        }
        assertEquals(2, tasks.getSentEventsForSubtask(0).size());
        assertEquals(1, tasks.getSentEventsForSubtask(1).size());
        assertCheckpointIsEmpty(workerSide);
        assertCheckpointIsEmpty(routerSide);
        routerSide.close();
        workerSide.close();
    }

    /** Coordinators keep no state: a checkpoint completes at once, with nothing in it. */
    private static void assertCheckpointIsEmpty(OperatorCoordinator coordinator) throws Exception {
        CompletableFuture<byte[]> result = new CompletableFuture<>();
        coordinator.checkpointCoordinator(1, result);
        assertEquals(0, result.getNow(null).length);
    }
}
