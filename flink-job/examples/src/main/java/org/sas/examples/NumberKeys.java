package org.sas.examples;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import java.util.List;

/**
 * Numbers the keys of a stream read by one file reader in file order: the n-th key becomes {@code
 * KeyRecord(key, n)}. Runs at parallelism 1, chained to the reader; the count is operator state, taken at the
 * same checkpoint barrier as the reader's position, so after a restore the replayed keys get the same
 * numbers (and the same event times) as before.
 */
public class NumberKeys extends ProcessFunction<String, KeyRecord> implements CheckpointedFunction {

    private static final long serialVersionUID = 1L;

    private transient long next;
    private transient ListState<Long> checkpointed;

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        checkpointed = context.getOperatorStateStore()
                .getListState(new ListStateDescriptor<>("keys-numbered", Types.LONG));
        next = 0;
        for (Long n : checkpointed.get()) {
            next += n;
        }
    }

    @Override
    public void processElement(String key, Context ctx, Collector<KeyRecord> out) {
        out.collect(new KeyRecord(key, next++));
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        checkpointed.update(List.of(next));
    }
}
