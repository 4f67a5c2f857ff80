// The reference group member: a kafka-clients KafkaConsumer sharing a group with aiomq's
// members, of the classic protocol with the CooperativeStickyAssignor, or of the consumer
// protocol (KIP-848: the coordinator assigns).
// Usage: GroupMember <bootstrap> <group> <topic> [classic|consumer]
// Prints "GEN <generation> <partitions owned>" (space-separated) from each rebalance callback,
// and "LEFT" once closed, which leaves the group. Runs until a line arrives on stdin (or stdin
// closes), polling all the while.
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class GroupMember {
  static volatile boolean stop = false;

  static void report(KafkaConsumer<byte[], byte[]> c, Collection<TopicPartition> gone) {
    StringBuilder line = new StringBuilder("GEN " + c.groupMetadata().generationId());
    List<Integer> owned = new ArrayList<>();
    for (TopicPartition tp : c.assignment()) if (!gone.contains(tp)) owned.add(tp.partition());
    Collections.sort(owned);
    for (int partition : owned) line.append(' ').append(partition);
    System.out.println(line);
    System.out.flush();
  }

  public static void main(String[] a) {
    Properties p = new Properties();
    p.put("bootstrap.servers", a[0]);
    p.put("group.id", a[1]);
    String protocol = a.length > 3 ? a[3] : "classic";
    p.put("group.protocol", protocol);
    if (protocol.equals("classic")) {  // the consumer protocol refuses these: the broker's
      p.put("partition.assignment.strategy", CooperativeStickyAssignor.class.getName());
      p.put("session.timeout.ms", "10000");
      p.put("heartbeat.interval.ms", "500");
    }
    p.put("enable.auto.commit", "false");
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p);
    c.subscribe(List.of(a[2]), new ConsumerRebalanceListener() {
      // Each callback reports what the member owns once it is done.
      public void onPartitionsRevoked(Collection<TopicPartition> revoked) {
        report(c, revoked);
      }
      public void onPartitionsLost(Collection<TopicPartition> lost) {
        report(c, lost);
      }
      public void onPartitionsAssigned(Collection<TopicPartition> added) {
        report(c, List.of());  // the new assignment is in place already
      }
    });
    Thread stdin = new Thread(() -> {
      try {
        System.in.read();
      } catch (Exception e) {
        // closed: stop all the same
      }
      stop = true;
    });
    stdin.setDaemon(true);
    stdin.start();
    while (!stop) c.poll(Duration.ofMillis(100));
    c.close();
    System.out.println("LEFT");
    System.out.flush();
  }
}
