package org.sas.flink.internal.loads;

import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.runtime.operators.coordination.OperatorEventGateway;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.CoordinatedOperatorFactory;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.SimpleOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

import org.sas.flink.internal.metrics.WorkerLoadSampler;
import org.sas.flink.internal.metrics.WorkerLoadSink;

import java.util.concurrent.RejectedExecutionException;

/**
 * Pass-through operator chained into every worker's task that runs the worker's {@link WorkerLoadSampler}
 * and sends each interval's sample both to the configured {@link WorkerLoadSink} (the agent's or the
 * log's) and, as a {@link WorkerLoadReport}, to the {@link WorkerLoadCoordinator} on the JobManager,
 * from where the routers receive it (see {@code docs/flink-job.md}, "Worker loads reach the routers").
 *
 * <p>Busy time is the task's, so the operator measures the whole worker (emulated capacity, partial
 * aggregate) wherever it sits in the chain. Records pass untouched. The sampler's thread hands each
 * report to the task's mailbox, which sends it: operator events leave a task from its own thread only.
 * The last, partial sample taken when the operator closes goes to the sink alone.
 *
 * @param <T> the worker's records
 */
public final class WorkerLoadOperator<T> extends AbstractStreamOperator<T>
        implements OneInputStreamOperator<T, T> {

    private static final long serialVersionUID = 1L;

    private final WorkerLoadSampler.Config config;
    private transient OperatorEventGateway coordinator;
    private transient MailboxExecutor mailbox;
    private transient WorkerLoadSampler sampler;
    /** Set on the task thread when the operator closes; read there by the report mails. */
    private transient boolean closed;

    private WorkerLoadOperator(WorkerLoadSampler.Config config) {
        this.config = config;
        this.chainingStrategy = ChainingStrategy.ALWAYS;
    }

    /** Called by the factory when the task builds the operator, before {@link #open}. */
    private void connect(OperatorEventGateway coordinator, MailboxExecutor mailbox) {
        this.coordinator = coordinator;
        this.mailbox = mailbox;
    }

    @Override
    public void open() throws Exception {
        super.open();
        WorkerLoadSink.Factory sink = config.sink();
        sampler = WorkerLoadSampler.start(getRuntimeContext(),
                new WorkerLoadSampler.Config(config.intervalMs(), worker -> new Tee(sink.open(worker))));
    }

    @Override
    public void processElement(StreamRecord<T> element) {
        output.collect(element);
    }

    @Override
    public void close() throws Exception {
        closed = true;
        try {
            if (sampler != null) {
                sampler.close();
                sampler = null;
            }
        } finally {
            super.close();
        }
    }

    /** Queues a report for the task thread to send; called by the sampler's thread. */
    private void report(long interval, double busyMs, double intervalMs) {
        WorkerLoadReport report = new WorkerLoadReport(interval, busyMs, intervalMs);
        try {
            mailbox.execute(() -> {
                if (!closed) {
                    coordinator.sendEventToCoordinator(report);
                }
            }, "report the worker's load of interval %s", interval);
        } catch (RejectedExecutionException e) {
            // The task is shutting down: the routers no longer need this interval.
        }
    }

    @Override
    public String toString() {
        return "WORKER-LOAD(" + config.sink() + ")";
    }

    /** The configured sink, plus the report to the coordinator. */
    private final class Tee implements WorkerLoadSink {
        private final WorkerLoadSink sink;

        Tee(WorkerLoadSink sink) {
            this.sink = sink;
        }

        @Override
        public void accept(long interval, int worker, double busyMs, double backPressuredMs, double intervalMs,
                long recordsIn) {
            report(interval, busyMs, intervalMs);
            sink.accept(interval, worker, busyMs, backPressuredMs, intervalMs, recordsIn);
        }

        @Override
        public void close() {
            sink.close();
        }
    }

    /**
     * Builds the operator with its event gateway and names its coordinator; travels with the job graph.
     * Worker {@code i} must be subtask {@code i}: parallelism = max parallelism = P.
     *
     * @param <T> the worker's records
     */
    public static final class Factory<T> extends SimpleOperatorFactory<T>
            implements CoordinatedOperatorFactory<T>, OneInputStreamOperatorFactory<T, T> {

        private static final long serialVersionUID = 1L;

        private final int workers;

        public Factory(WorkerLoadSampler.Config config, int workers) {
            super(new WorkerLoadOperator<T>(config));
            this.workers = workers;
        }

        @Override
        public <O extends StreamOperator<T>> O createStreamOperator(StreamOperatorParameters<T> parameters) {
            O operator = super.createStreamOperator(parameters);
            OperatorID id = parameters.getStreamConfig().getOperatorID();
            ((WorkerLoadOperator<?>) operator).connect(
                    parameters.getOperatorEventDispatcher().getOperatorEventGateway(id),
                    parameters.getMailboxExecutor());
            return operator;
        }

        @Override
        public OperatorCoordinator.Provider getCoordinatorProvider(String operatorName, OperatorID operatorId) {
            return new WorkerLoadCoordinator.Provider(operatorId, workers);
        }
    }
}
