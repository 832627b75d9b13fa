namespace LlmCpu.Engine.Models;

/// <summary>The precision weights are held in for computation.</summary>
public enum ModelPrecision
{
    /// <summary>Keep what the file stores.</summary>
    AsStored,
    Float32,
    Float16,
    Int4,
}
