package org.sas.flink.internal;

import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.triggers.EventTimeTrigger;
import org.apache.flink.streaming.api.windowing.triggers.Trigger;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;

import java.util.Collection;
import java.util.List;

/**
 * The merge's windows: each partial goes to the window it was computed for, which fires at its end.
 *
 * <p>Why the merge is complete when it fires: a worker emits a window's partial (timestamp {@code end - 1})
 * while handling the watermark that reaches {@code end - 1}, and forwards that watermark only afterwards.
 * The merge's watermark is the minimum over the workers, so it reaches {@code end - 1}, and fires the window,
 * only once every worker has sent its partial of that window; no partial is late for it.
 */
public class PartialWindows extends WindowAssigner<Partial<?, ?>, TimeWindow> {

    private static final long serialVersionUID = 1L;

    @Override
    public Collection<TimeWindow> assignWindows(Partial<?, ?> partial, long timestamp, WindowAssignerContext context) {
        return List.of(new TimeWindow(partial.windowStart, partial.windowEnd));
    }

    @Override
    public Trigger<Partial<?, ?>, TimeWindow> getDefaultTrigger() {
        return eventTime();
    }

    @Override
    @SuppressWarnings("deprecation")
    public Trigger<Partial<?, ?>, TimeWindow> getDefaultTrigger(StreamExecutionEnvironment env) {
        return eventTime();
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Trigger<Partial<?, ?>, TimeWindow> eventTime() {
        // EventTimeTrigger is a Trigger<Object, TimeWindow>: it never reads the element.
        return (Trigger) EventTimeTrigger.create();
    }

    @Override
    public TypeSerializer<TimeWindow> getWindowSerializer(ExecutionConfig executionConfig) {
        return new TimeWindow.Serializer();
    }

    @Override
    public boolean isEventTime() {
        return true;
    }

    @Override
    public String toString() {
        return "PartialWindows()";
    }
}
