package org.sas.examples;

/** One record of an example's key stream: its key and its index in the stream, from which event time comes. */
public class KeyRecord {

    /** The key: a word, or a line of a key-stream file. */
    public String key;
    /** The record's position in the stream, from 0. */
    public long index;

    /** For Flink's POJO serializer. */
    public KeyRecord() {}

    /** Record {@code index} of the stream, with key {@code key}. */
    public KeyRecord(String key, long index) {
        this.key = key;
        this.index = index;
    }

    @Override
    public String toString() {
        return "record " + index + " `" + key + "`";
    }
}
