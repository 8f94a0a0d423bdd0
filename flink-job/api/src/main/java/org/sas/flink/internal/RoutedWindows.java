package org.sas.flink.internal;

import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.triggers.EventTimeTrigger;
import org.apache.flink.streaming.api.windowing.triggers.Trigger;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;

import java.util.Collection;

/**
 * The user's window assigner applied to routed records: each gets the windows its record would get.
 * Windows fire once, at their end ({@link EventTimeTrigger}): a partial must be complete when it leaves.
 *
 * @param <T> the record
 */
public class RoutedWindows<T> extends WindowAssigner<Routed<T>, TimeWindow> {

    private static final long serialVersionUID = 1L;

    private final WindowAssigner<? super T, TimeWindow> windows;

    /** Assigns what {@code windows} assigns to the record inside. */
    public RoutedWindows(WindowAssigner<? super T, TimeWindow> windows) {
        this.windows = windows;
    }

    @Override
    public Collection<TimeWindow> assignWindows(Routed<T> element, long timestamp, WindowAssignerContext context) {
        return windows.assignWindows(element.value, timestamp, context);
    }

    @Override
    public Trigger<Routed<T>, TimeWindow> getDefaultTrigger() {
        return eventTime();
    }

    @Override
    @SuppressWarnings("deprecation")
    public Trigger<Routed<T>, TimeWindow> getDefaultTrigger(StreamExecutionEnvironment env) {
        return eventTime();
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static <E> Trigger<E, TimeWindow> eventTime() {
        // EventTimeTrigger is a Trigger<Object, TimeWindow>: it never reads the element.
        return (Trigger) EventTimeTrigger.create();
    }

    @Override
    public TypeSerializer<TimeWindow> getWindowSerializer(ExecutionConfig executionConfig) {
        return windows.getWindowSerializer(executionConfig);
    }

    @Override
    public boolean isEventTime() {
        return true;
    }

    @Override
    public String toString() {
        return windows.toString();
    }
}
