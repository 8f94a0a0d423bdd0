package org.sas.flink.internal.loads;

import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.runtime.operators.coordination.OperatorEvent;
import org.apache.flink.runtime.operators.coordination.OperatorEventHandler;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.operators.CoordinatedOperatorFactory;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.ProcessOperator;
import org.apache.flink.streaming.api.operators.SimpleUdfStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router operator: runs a router function as {@code process()} would, and closes the router's
 * intervals with the workers' loads that its {@link RouterLoadCoordinator} sends ({@link WorkerLoads}).
 *
 * <p>Flink delivers an operator event through the task's mailbox, between two records, on the thread
 * that routes: the hand-over takes no lock and costs the record path nothing, and a router never waits
 * for loads. Which intervals the router takes is its {@link LoadFeedback#endInterval}'s decision.
 *
 * @param <IN> the records routed
 * @param <OUT> the records with their worker
 * @param <F> the router function
 */
public final class RouterOperator<IN, OUT, F extends ProcessFunction<IN, OUT> & LoadFeedback>
        extends ProcessOperator<IN, OUT> implements OperatorEventHandler {

    private static final long serialVersionUID = 1L;

    private static final Logger LOG = LoggerFactory.getLogger(RouterOperator.class);

    private final F router;

    public RouterOperator(F router) {
        super(router);
        this.router = router;
    }

    @Override
    public void handleOperatorEvent(OperatorEvent event) {
        if (event instanceof WorkerLoads loads) {
            router.endInterval(loads.interval(), loads.loads());
        } else {
            LOG.warn("{}: unexpected event {}", router, event);
        }
    }

    @Override
    public String toString() {
        return router.toString();
    }

    /**
     * Builds the operator, registers it for its coordinator's events and names that coordinator; travels
     * with the job graph.
     *
     * @param <IN> the records routed
     * @param <OUT> the records with their worker
     */
    public static final class Factory<IN, OUT> extends SimpleUdfStreamOperatorFactory<OUT>
            implements CoordinatedOperatorFactory<OUT>, OneInputStreamOperatorFactory<IN, OUT> {

        private static final long serialVersionUID = 1L;

        private final int workers;

        /** The operator of {@code router}, whose loads come from {@code workers} workers. */
        public <F extends ProcessFunction<IN, OUT> & LoadFeedback> Factory(F router, int workers) {
            super(new RouterOperator<>(router));
            this.workers = workers;
        }

        @Override
        public <T extends StreamOperator<OUT>> T createStreamOperator(StreamOperatorParameters<OUT> parameters) {
            T operator = super.createStreamOperator(parameters);
            parameters.getOperatorEventDispatcher().registerEventHandler(
                    parameters.getStreamConfig().getOperatorID(), (OperatorEventHandler) operator);
            return operator;
        }

        @Override
        public OperatorCoordinator.Provider getCoordinatorProvider(String operatorName, OperatorID operatorId) {
            return new RouterLoadCoordinator.Provider(operatorId, workers);
        }
    }
}
