namespace GruService.Engine.ModelFiles;

/// <summary>Upper bounds a model file must respect before anything is allocated for it.</summary>
public sealed class ModelLimits
{
    public long MaxFileBytes { get; set; } = 512L * 1024 * 1024;
    public int MaxHeaderBytes { get; set; } = 1024 * 1024;
    public int MaxInputSize { get; set; } = 65536;
    public int MaxHiddenSize { get; set; } = 4096;
    public int MaxLayers { get; set; } = 8;
    public int MaxHorizon { get; set; } = 10000;
    public int MaxOutputSize { get; set; } = 65536;
    public int MaxClasses { get; set; } = 65536;
    public long MaxParameters { get; set; } = 128L * 1024 * 1024;
}
