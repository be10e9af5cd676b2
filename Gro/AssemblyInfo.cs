// Layer: GRO. Coalesces consecutive TCP segments of a flow into one super-segment before the stack sees them.
[assembly: System.CLSCompliant(false)]
